package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// ErrHashMismatch means the downloaded audio is not what the signed command
// named: the play is aborted and reported.
var ErrHashMismatch = errors.New("audio hash mismatch")

// Cache keeps verified programme audio on local storage, named by SHA-256,
// so a speaker that loses its network mid-warning keeps playing, and so many
// virtual speakers in one process download a programme once.
type Cache struct {
	Dir      string
	Client   *http.Client
	MaxBytes int64 // total kept; older files are pruned. Default 256 MiB.
	MaxFile  int64 // largest accepted download. Default 64 MiB.

	mu       sync.Mutex
	inflight map[string]*fetch
	verified map[string]bool
	lengths  map[string]time.Duration // sha → WAV duration, read once
}

type fetch struct {
	done chan struct{}
	err  error
}

// NewCache makes a cache in dir (created 0700).
func NewCache(dir string, client *http.Client) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audio cache: %w", err)
	}
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Minute}
	}
	return &Cache{Dir: dir, Client: client, inflight: map[string]*fetch{}, verified: map[string]bool{},
		lengths: map[string]time.Duration{}}, nil
}

func (c *Cache) path(sha string) string { return filepath.Join(c.Dir, sha+".wav") }

// Has reports whether sha is cached and verified (verifying it on first use).
func (c *Cache) Has(sha string) bool {
	c.mu.Lock()
	ok := c.verified[sha]
	c.mu.Unlock()
	if ok {
		return true
	}
	f, err := os.Open(c.path(sha))
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil || hex.EncodeToString(h.Sum(nil)) != sha {
		_ = os.Remove(c.path(sha)) // corrupted on disk: download again
		return false
	}
	c.mu.Lock()
	c.verified[sha] = true
	c.mu.Unlock()
	return true
}

// Get returns the path of the audio with hash sha, downloading it from url
// first when needed. Concurrent calls for one hash share one download.
func (c *Cache) Get(ctx context.Context, url, sha string) (string, error) {
	if c.Has(sha) {
		return c.path(sha), nil
	}
	c.mu.Lock()
	f, ok := c.inflight[sha]
	if !ok {
		f = &fetch{done: make(chan struct{})}
		c.inflight[sha] = f
		go func() {
			// The download outlives one caller's ctx: another speaker (or the
			// next repeat) may be waiting for the same programme.
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			f.err = c.download(dctx, url, sha)
			cancel()
			c.mu.Lock()
			delete(c.inflight, sha)
			if f.err == nil {
				c.verified[sha] = true
			}
			c.mu.Unlock()
			close(f.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-f.done:
	}
	if f.err != nil {
		return "", f.err
	}
	return c.path(sha), nil
}

func (c *Cache) download(ctx context.Context, url, sha string) error {
	maxFile := c.MaxFile
	if maxFile <= 0 {
		maxFile = 64 << 20
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("audio url: %w", err)
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return fmt.Errorf("download audio: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download audio: HTTP %d", resp.StatusCode)
	}
	tmp, err := os.CreateTemp(c.Dir, ".dl-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, maxFile+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download audio: %w", err)
	}
	if n > maxFile {
		return fmt.Errorf("download audio: larger than %d bytes", maxFile)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("%w: got %s…, want %s…", ErrHashMismatch, got[:12], sha[:12])
	}
	if err := os.Rename(tmp.Name(), c.path(sha)); err != nil {
		return err
	}
	c.prune(sha)
	return nil
}

// prune removes the oldest files while the cache is over MaxBytes, never
// the one just written.
func (c *Cache) prune(keep string) {
	limit := c.MaxBytes
	if limit <= 0 {
		limit = 256 << 20
	}
	ents, err := os.ReadDir(c.Dir)
	if err != nil {
		return
	}
	type file struct {
		name string
		size int64
		mod  time.Time
	}
	var files []file
	var total int64
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && filepath.Ext(e.Name()) == ".wav" {
			files = append(files, file{e.Name(), info.Size(), info.ModTime()})
			total += info.Size()
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	for _, f := range files {
		if total <= limit {
			return
		}
		if f.name == keep+".wav" {
			continue
		}
		if os.Remove(filepath.Join(c.Dir, f.name)) == nil {
			total -= f.size
			c.mu.Lock()
			delete(c.verified, f.name[:len(f.name)-4])
			delete(c.lengths, f.name[:len(f.name)-4])
			c.mu.Unlock()
		}
	}
}

// Duration is the play length of a cached WAV, read from its header once.
func (c *Cache) Duration(sha string) (time.Duration, error) {
	c.mu.Lock()
	d, ok := c.lengths[sha]
	c.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := wavFileDuration(c.path(sha))
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.lengths[sha] = d
	c.mu.Unlock()
	return d, nil
}
