package testsvc

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumNames are the binaries tried, Debian's first.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// ChromiumPath returns the path of a Chromium binary: $ALERTCAST_CHROMIUM when
// set, else the first of chromium, chromium-browser, google-chrome … on PATH.
// When none is found the test is skipped (failed under
// ALERTCAST_REQUIRE_SERVICES=1).
func ChromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ALERTCAST_CHROMIUM"); p != "" {
		return Need(t, p)
	}
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Missing(t, "no Chromium found on PATH (install Debian package chromium, or set ALERTCAST_CHROMIUM)")
	return ""
}

// ChromiumOptions returns chromedp allocator options for a headless Chromium
// that also runs as root inside a container: no sandbox, no GPU, no network
// chatter (background networking, component updates, sync), fresh profile in
// a temp dir.
func ChromiumOptions(t testing.TB) []chromedp.ExecAllocatorOption {
	t.Helper()
	bin := ChromiumPath(t)
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(412, 915), // a phone-sized viewport
	}
}

// Chromium starts a headless Chromium for the test and returns a chromedp
// browser context (the first tab). Everything is torn down when the test
// ends. timeout bounds the whole browser session.
func Chromium(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	opts := ChromiumOptions(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser now so a broken install fails here, clearly.
	if err := chromedp.Do(ctx); err != nil {
		// The binary is there but broken: that is a failure, not a skip.
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
