package console_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// desktopBrowser starts a desktop-sized headless Chromium for the test and
// returns the operator's tab and the approver's, in a second browser
// context (its own cookies). Both end with the test, or after timeout.
func desktopBrowser(t testing.TB, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) (op, ap context.Context) {
	t.Helper()
	opts := append(append(testsvc.ChromiumOptions(t), chromedp.WindowSize(1366, 900)), extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	op, cancelOp := chromedp.NewContext(actx)
	t.Cleanup(cancelOp)
	op, cancelT := context.WithTimeout(op, timeout)
	t.Cleanup(cancelT)
	if err := chromedp.Do(op); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ap, cancelAp := chromedp.NewContext(op, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelAp)
	return op, ap
}

// jsErrors collects the uncaught JavaScript exceptions of the pages it
// watches.
type jsErrors struct {
	mu   sync.Mutex
	list []string
}

func (j *jsErrors) watch(t testing.TB, ctx context.Context, who string) {
	t.Helper()
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			j.mu.Lock()
			j.list = append(j.list, who+": "+msg)
			j.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
}

// check fails the test for every exception collected.
func (j *jsErrors) check(t testing.TB) {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, e := range j.list {
		t.Errorf("uncaught JavaScript exception: %s", e)
	}
}

// evalJS evaluates the JavaScript expression js, a string, in the page.
func evalJS(t testing.TB, ctx context.Context, js string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}
