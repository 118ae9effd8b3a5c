package audio

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"time"
)

// StoreClip stores an uploaded recording for Programme.ClipSHA256: decoded,
// downmixed to mono, resampled to the renderer's rate, loudness-normalised
// and kept as canonical PCM16 WAV named by the SHA-256 of those bytes.
//
// WAV only. MP3 is refused with ErrUnsupportedFormat: the pure-Go decoder
// everyone used (hajimehoshi/go-mp3) was archived in 2023 and its
// successors are too young to trust with uploads from outside; officers
// convert first (ffmpeg -i in.mp3 -ac 1 -ar 16000 out.wav).
func (r *Renderer) StoreClip(ctx context.Context, body io.Reader, contentType string) (string, time.Duration, error) {
	sha, d, err := r.storeClip(ctx, body, contentType)
	if err != nil {
		r.metrics.clips.WithLabelValues("rejected").Inc()
		return "", 0, err
	}
	r.metrics.clips.WithLabelValues("stored").Inc()
	r.log.Info("audio: clip stored", "sha256", sha, "duration", d)
	return sha, d, nil
}

func (r *Renderer) storeClip(ctx context.Context, body io.Reader, contentType string) (string, time.Duration, error) {
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return "", 0, fmt.Errorf("%w: Content-Type %q: %v", ErrUnsupportedFormat, contentType, err)
		}
		switch mt {
		case "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "application/octet-stream":
		case "audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg-3":
			return "", 0, errMP3
		default:
			return "", 0, fmt.Errorf("%w: Content-Type %q (upload a WAV file, audio/wav)", ErrUnsupportedFormat, mt)
		}
	}
	br := bufio.NewReader(body)
	head, _ := br.Peek(4)
	if looksLikeMP3(head) {
		return "", 0, errMP3
	}
	maxFrames := int(r.maxClipD.Seconds() * MaxSampleRate)
	pcm, _, err := ReadWAV(br, r.maxClip, maxFrames)
	if err != nil {
		return "", 0, fmt.Errorf("clip: %w", err)
	}
	if d := pcm.Duration(); d > r.maxClipD {
		return "", 0, fmt.Errorf("%w: %v long, limit %v", ErrClipTooLarge, d.Round(time.Millisecond), r.maxClipD)
	}
	if len(pcm.Samples) == 0 {
		return "", 0, fmt.Errorf("%w: no samples", ErrSilentClip)
	}
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	x := resampleFloat(toFloat(pcm.Samples), pcm.Rate, r.rate)
	if !normalizeLoudness(x, r.rate) {
		return "", 0, fmt.Errorf("%w: every frame is below %v dBFS", ErrSilentClip, silenceFloorDB)
	}
	out := PCM{Rate: r.rate, Samples: toInt16(x)}
	wav, err := EncodeWAV(out)
	if err != nil {
		return "", 0, err
	}
	sum := sha256.Sum256(wav)
	sha := hex.EncodeToString(sum[:])
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	if err := r.writeAtomic(filepath.Join(r.clipDir, sha+".wav"), wav); err != nil {
		return "", 0, err
	}
	return sha, out.Duration(), nil
}

var errMP3 = fmt.Errorf("%w: MP3 uploads are not accepted (no well-maintained pure-Go MP3 decoder); convert to WAV first, e.g. ffmpeg -i in.mp3 -ac 1 -ar 16000 out.wav", ErrUnsupportedFormat)

func looksLikeMP3(b []byte) bool {
	if bytes.HasPrefix(b, []byte("ID3")) {
		return true
	}
	// MPEG audio frame sync: 11 set bits.
	return len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0
}

// loadClip reads a stored clip; it is already at the renderer's rate.
func (r *Renderer) loadClip(sha string) (PCM, error) {
	b, err := os.ReadFile(filepath.Join(r.clipDir, sha+".wav"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return PCM{}, fmt.Errorf("%w: clip_sha256: no stored clip %s", ErrNotFound, sha)
		}
		return PCM{}, err
	}
	pcm, _, err := DecodeWAV(b, 0)
	if err != nil {
		return PCM{}, fmt.Errorf("audio: stored clip %s: %w", sha, err)
	}
	if pcm.Rate != r.rate {
		return Resample(pcm, r.rate)
	}
	return pcm, nil
}
