package voice_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// TestChromiumLiveApproval: an operator's page goes live at red and shows
// that it waits; an approver's page (another tab) shows the request and
// approves it; the operator's page goes live and the loudspeakers are told.
func TestChromiumLiveApproval(t *testing.T) {
	opts := append(testsvc.ChromiumOptions(t),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
	)
	leakCheck(t)
	e := newEnv(t, nil)

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	opTab, cancelOp := chromedp.NewContext(actx)
	defer cancelOp()
	ctx, cancel := context.WithTimeout(opTab, 60*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.http.URL+"/voice/#token=tok-op1"),
		chromedp.WaitEnabled(chromedp.ID("golive")),
		chromedp.WaitReady(chromedp.CSS(`#region option[value="653122100"]`)),
		chromedp.SetValue(chromedp.ID("region"), "653122100"),
		chromedp.SetValue(chromedp.ID("level"), "4"),
		chromedp.Click(chromedp.ID("golive")),
	); err != nil {
		t.Fatalf("operator page: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("livestate").textContent.includes("waiting for an approver")`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("livestate")))
		t.Fatalf("operator page does not show the request waiting: %v (%q)", err, state)
	}
	// The approver opens the page, in a second tab, after the request was
	// filed: it is shown.
	chiefCtx, cancelChief := chromedp.NewContext(ctx)
	defer cancelChief()
	if err := chromedp.Do(chiefCtx,
		chromedp.Navigate(e.http.URL+"/voice/#token=tok-approver"),
		chromedp.WaitVisible(`#requests li button.ok`),
	); err != nil {
		t.Fatalf("approver page does not show the request: %v", err)
	}
	shown, err := chromedp.Run(chiefCtx, chromedp.TextContent(`#requests li`))
	if err != nil {
		t.Fatal(err)
	}
	if rooms := e.srv.Rooms(); len(rooms) != 0 {
		t.Fatalf("a room opened before approval: %+v", rooms)
	}
	if err := chromedp.Do(chiefCtx, chromedp.Click(`#requests li button.ok`)); err != nil {
		t.Fatal(err)
	}
	var lr voice.LiveRoom
	select {
	case lr = <-e.live.ch:
	case <-ctx.Done():
		t.Fatalf("approving on the page (request %q) did not start the live room", shown)
	}
	if lr.Publisher != "op1" || lr.Level != 4 || lr.Region != "653122100" {
		t.Fatalf("LiveRoom = %+v", lr)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("livestate").textContent.includes("LIVE")`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("operator page after approval: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("end"))); err != nil {
		t.Fatal(err)
	}
	if a := e.audits.wait(t, voice.AuditLiveEnd, nil); a.StartedBy != "op1" || a.ApprovedBy != "chief1" || a.Reason != "ended by op1" {
		t.Errorf("end record = %+v", a)
	}
	cancelChief()
	cancel()
	cancelOp()
	cancelAlloc()
}
