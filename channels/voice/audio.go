package voice

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// HTTPAudio is an AudioSource that fetches rendered programmes from the
// audio service: GET {BaseURL}/audio/{sha256}.pcmu (8 kHz µ-law).
type HTTPAudio struct {
	BaseURL string       // e.g. "http://127.0.0.1:8080"
	Client  *http.Client // nil: a client with a 30 s timeout
}

var sha256Pattern = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// OpenPCMU implements AudioSource. A 404 is an error naming the hash; the
// caller rings with text only.
func (h *HTTPAudio) OpenPCMU(ctx context.Context, sha string) (io.ReadCloser, error) {
	if !sha256Pattern.MatchString(sha) {
		return nil, fmt.Errorf("audio sha256: 64 hex digits (got %q)", sha)
	}
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	url := strings.TrimSuffix(h.BaseURL, "/") + "/audio/" + sha + ".pcmu"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("audio %s: %w", sha, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("audio %s: %w", sha, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("audio %s: %s", sha, resp.Status)
	}
	return resp.Body, nil
}

// AudioFunc adapts a function to AudioSource, e.g. the in-process renderer:
//
//	voice.AudioFunc(func(ctx context.Context, sha string) (io.ReadCloser, error) {
//		f, _, err := renderer.OpenFormat(sha, audio.FormatPCMU)
//		return f, err
//	})
type AudioFunc func(ctx context.Context, sha256 string) (io.ReadCloser, error)

// OpenPCMU calls f.
func (f AudioFunc) OpenPCMU(ctx context.Context, sha256 string) (io.ReadCloser, error) {
	return f(ctx, sha256)
}

// LiveFunc adapts a function to LiveStarter, e.g. the speaker hub:
//
//	voice.LiveFunc(func(ctx context.Context, ids []string, r voice.LiveRoom) error {
//		return hub.Live(ctx, ids, speakerwire.LiveRoom{ID: r.ID, Signaling: r.SignalURL, Token: r.Token, Level: r.Level})
//	})
type LiveFunc func(ctx context.Context, deviceIDs []string, room LiveRoom) error

// Live calls f.
func (f LiveFunc) Live(ctx context.Context, deviceIDs []string, room LiveRoom) error {
	return f(ctx, deviceIDs, room)
}

// DevicesFunc adapts a function to RegionDevices.
type DevicesFunc func(ctx context.Context, region string) ([]string, error)

// DevicesIn calls f.
func (f DevicesFunc) DevicesIn(ctx context.Context, region string) ([]string, error) {
	return f(ctx, region)
}

// OnlineFunc adapts a function to EndpointLister.
type OnlineFunc func(ctx context.Context) []string

// Online calls f.
func (f OnlineFunc) Online(ctx context.Context) []string { return f(ctx) }
