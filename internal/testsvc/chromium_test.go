package testsvc

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestChromiumRunsPage(t *testing.T) {
	ctx := Chromium(t, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate("data:text/html,<title>ok-alertcast</title><p>hi")); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "ok-alertcast" {
		t.Fatalf("title = %q", title)
	}
}
