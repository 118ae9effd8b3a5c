package audio

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// partVersion changes whenever a part's audio for the same words changes
// (how speak trims, resamples or normalises): it is part of every part's
// cache key, with renderVersion.
const partVersion = 1

// DefaultPartCacheBytes bounds the synthesised parts kept in memory.
const DefaultPartCacheBytes = 64 << 20

// partKey hashes everything a part's sound depends on: the engine, its
// version, voices and speed (synthName), the language, the normalised
// words, the rate, the loudness targets and the versions of the renderer
// and of the part pipeline. Nothing else goes into a part, so a part with
// this key is these words and no others.
func (r *Renderer) partKey(lang, text string) string {
	key := struct {
		Version     int     `json:"v"`
		PartVersion int     `json:"pv"`
		Rate        int     `json:"rate"`
		RMS         float64 `json:"rms_dbfs"`
		Peak        float64 `json:"peak_dbfs"`
		Synth       string  `json:"synth"`
		Lang        string  `json:"lang"`
		Text        string  `json:"text"`
	}{renderVersion, partVersion, r.rate, TargetRMSdBFS, PeakCeilingdBFS, r.synthName, lang, text}
	b, _ := json.Marshal(key)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// partCache keeps synthesised parts (PCM16 at the renderer's rate, after
// trimming and loudness normalisation) in memory, least recently used out
// first, and shares a synthesis in flight among concurrent renders.
type partCache struct {
	max int64

	mu       sync.Mutex
	size     int64
	lru      *list.List // of *partEntry, most recent at the front
	byKey    map[string]*list.Element
	inflight map[string]*partCall
}

type partEntry struct {
	key     string
	samples []int16
}

type partCall struct {
	done    chan struct{}
	samples []int16
	err     error
}

func newPartCache(max int64) *partCache {
	return &partCache{max: max, lru: list.New(), byKey: map[string]*list.Element{}, inflight: map[string]*partCall{}}
}

func (c *partCache) get(key string) ([]int16, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*partEntry).samples, true
}

func (c *partCache) put(key string, samples []int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok {
		return
	}
	n := int64(2 * len(samples))
	if n > c.max {
		return
	}
	c.byKey[key] = c.lru.PushFront(&partEntry{key, samples})
	c.size += n
	for c.size > c.max {
		el := c.lru.Back()
		e := el.Value.(*partEntry)
		c.lru.Remove(el)
		delete(c.byKey, e.key)
		c.size -= int64(2 * len(e.samples))
	}
}

// part returns the audio of one part: from memory, else from the disk
// cache, else synthesised (once, however many renders ask at the same
// time) and kept in both. The samples are shared: never modify them.
func (r *Renderer) part(ctx context.Context, lang, text string) ([]int16, error) {
	key := r.partKey(lang, text)
	if x, ok := r.parts.get(key); ok {
		r.metrics.part("memory")
		return x, nil
	}
	for {
		r.parts.mu.Lock()
		c, ok := r.parts.inflight[key]
		if !ok {
			break // still holding the lock
		}
		r.parts.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// The synthesis we waited for belonged to a render that gave up;
		// ours has not, so try again rather than inherit its cancellation.
		if c.err != nil && (errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) && ctx.Err() == nil {
			continue
		}
		return c.samples, c.err
	}
	c := &partCall{done: make(chan struct{})}
	r.parts.inflight[key] = c
	r.parts.mu.Unlock()

	c.samples, c.err = r.loadOrSpeakPart(ctx, key, lang, text)
	if c.err == nil {
		r.parts.put(key, c.samples)
	}
	r.parts.mu.Lock()
	delete(r.parts.inflight, key)
	r.parts.mu.Unlock()
	close(c.done)
	return c.samples, c.err
}

func (r *Renderer) loadOrSpeakPart(ctx context.Context, key, lang, text string) ([]int16, error) {
	path := filepath.Join(r.partDir, key+".wav")
	if b, err := os.ReadFile(path); err == nil {
		pcm, _, err := DecodeWAV(b, 0)
		if err == nil && pcm.Rate == r.rate && len(pcm.Samples) > 0 {
			r.metrics.part("disk")
			return pcm.Samples, nil
		}
		// Written atomically, so only a damaged disk gets here: say
		// so, and speak the part again.
		r.log.Warn("audio: cached speech part unreadable; synthesised again", "key", key, "err", err)
	}
	x, err := r.speak(ctx, Segment{Lang: lang, Text: text})
	if err != nil {
		return nil, err
	}
	samples := toInt16(x)
	wav, err := EncodeWAV(PCM{Rate: r.rate, Samples: samples})
	if err != nil {
		return nil, err
	}
	if err := r.writeAtomic(path, wav); err != nil {
		// The part is good; only the next process will speak it again.
		r.log.Warn("audio: speech part not cached on disk", "key", key, "err", err)
	}
	r.metrics.part("synthesised")
	return samples, nil
}

// speakParts is the speech of a segment given in parts: each part's audio
// (each at the target loudness), joined by PauseBetweenParts of silence.
// Parts are fetched in parallel; the synthesizer bounds its processes
// (Espeak: EspeakConfig.MaxProcesses).
func (r *Renderer) speakParts(ctx context.Context, s Segment) ([]int16, error) {
	pcm := make([][]int16, len(s.Parts))
	errs := make([]error, len(s.Parts))
	var wg sync.WaitGroup
	for j, text := range s.Parts {
		wg.Go(func() { pcm[j], errs[j] = r.part(ctx, s.Lang, text) })
	}
	wg.Wait()
	gap := durationToSamples(PauseBetweenParts, r.rate)
	n := gap * (len(pcm) - 1)
	for j, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", j, err)
		}
		n += len(pcm[j])
	}
	out := make([]int16, 0, n)
	for j, x := range pcm {
		if j > 0 {
			out = append(out, make([]int16, gap)...)
		}
		out = append(out, x...)
	}
	return out, nil
}
