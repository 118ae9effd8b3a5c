package voice_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/rtp"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// TestChromiumGoesLive: a real browser on the command-centre page, with
// Chromium's fake microphone, goes live for a township; a loudspeaker agent
// (rtcclient, as cmd/speaker uses it) joins with the room token and receives
// the browser's Opus as RTP; ending on the page ends the agent's Join.
func TestChromiumGoesLive(t *testing.T) {
	opts := append(testsvc.ChromiumOptions(t),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		// Chromium leaves loopback out of WebRTC unless told; the server
		// runs the documented loopback profile.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
	)
	leakCheck(t)
	e := newEnv(t, nil)

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	err := chromedp.Do(ctx,
		chromedp.Navigate(e.http.URL+"/voice/#token=tok-officer"),
		// Connected and microphone granted: "Go live" is enabled.
		chromedp.WaitEnabled(chromedp.ID("golive")),
		chromedp.WaitReady(chromedp.CSS(`#region option[value="653122100"]`)),
		chromedp.SetValue(chromedp.ID("region"), "653122100"),
		chromedp.Click(chromedp.ID("golive")),
	)
	if err != nil {
		t.Fatalf("command-centre page: %v", err)
	}

	var lr voice.LiveRoom
	select {
	case lr = <-e.live.ch:
	case <-ctx.Done():
		t.Fatal("going live on the page did not start a live room")
	}
	if lr.Region != "653122100" || lr.Publisher != "duty1" {
		t.Fatalf("LiveRoom = %+v", lr)
	}

	var packets, opus atomic.Int64
	got25 := make(chan struct{})
	joined := make(chan error, 1)
	go func() {
		joined <- rtcclient.Join(ctx, e.wsURL, lr.Token, lr.ID, rtcclient.Config{Loopback: true, Device: "spk-100-01"}, func(p *rtp.Packet) {
			if len(p.Payload) > 0 {
				opus.Add(1)
			}
			if packets.Add(1) == 25 {
				close(got25)
			}
		})
	}()
	select {
	case <-got25:
	case err := <-joined:
		t.Fatalf("agent left before audio arrived: %v", err)
	case <-ctx.Done():
		lctx, lcancel := context.WithTimeout(bctx, 5*time.Second)
		state, _ := chromedp.Run(lctx, chromedp.TextContent(chromedp.ID("log")))
		lcancel()
		t.Fatalf("no audio from the browser reached the agent (%d packets); page log:\n%s", packets.Load(), state)
	}
	if opus.Load() < 25 {
		t.Errorf("%d of %d packets had a payload", opus.Load(), packets.Load())
	}

	// The page sees the loudspeaker in the room.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("speakers").textContent === "1"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		speakers, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("speakers")))
		t.Errorf("page does not show the loudspeaker: %v (%q)", err, speakers)
	}

	// Ending on the page ends the agent's Join cleanly.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("end"))); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-joined:
		if err != nil {
			t.Errorf("Join after end = %v, want nil", err)
		}
	case <-ctx.Done():
		t.Fatal("agent not told the room ended")
	}
	select {
	case rec := <-e.recs:
		if rec.Packets < 25 {
			t.Errorf("recording has %d packets", rec.Packets)
		}
	case <-time.After(5 * time.Second):
		t.Error("no recording of the live announcement")
	}
	cancel()
	cancelBrowser()
	cancelAlloc()
}

// TestChromiumFieldPageAnswersRing: the voice channel rings a field member
// whose field page is open in Chromium; the page answers, the programme
// plays (PCMU over WebRTC) and "received" comes back as a Delivered receipt.
func TestChromiumFieldPageAnswersRing(t *testing.T) {
	opts := append(testsvc.ChromiumOptions(t),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
	)
	leakCheck(t)
	e := newEnv(t, func(c *voice.Config) { c.Audio = pcmuSource{"abc123": programme()} })

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.http.URL+"/voice/field#token=tok-field1"),
		chromedp.Poll[chromedp.Void](`document.getElementById("who").textContent.startsWith("field1")`, chromedp.WithPollingTimeout(15*time.Second)),
	); err != nil {
		t.Fatalf("field page: %v", err)
	}
	type sendResult struct {
		res []channels.Result
		err error
	}
	sent := make(chan sendResult, 1)
	go func() {
		res, err := e.srv.Channel().Send(ctx, msg(), []channels.Recipient{{ID: "r1", Address: "field1", Language: "zh"}})
		sent <- sendResult{res, err}
	}()
	// The ring card shows the warning; answer it.
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("ringbox")),
		chromedp.Poll[chromedp.Void](`document.getElementById("ringhead").textContent.includes("沙尘暴")`, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Click(chromedp.ID("answer")),
	); err != nil {
		t.Fatalf("ring card: %v", err)
	}
	var sr sendResult
	select {
	case sr = <-sent:
	case <-ctx.Done():
		t.Fatal("Send did not return after the page answered")
	}
	if sr.err != nil || len(sr.res) != 1 || sr.res[0].State != channels.StateSent || sr.res[0].Detail != "answered" {
		t.Fatalf("Send = %+v, %v", sr.res, sr.err)
	}
	// The programme arrives: the page's sub connection is up and its audio
	// element has a live stream.
	if err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`(() => { const a = document.getElementById("audio"); return !!a.srcObject && a.srcObject.getAudioTracks().length > 0 && document.getElementById("log").textContent.includes("/sub: connected"); })()`, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Click(chromedp.ID("ack")),
	); err != nil {
		lctx, lcancel := context.WithTimeout(bctx, 5*time.Second)
		log, _ := chromedp.Run(lctx, chromedp.TextContent(chromedp.ID("log")))
		lcancel()
		t.Fatalf("programme did not play: %v\npage log:\n%s", err, log)
	}
	select {
	case rc := <-e.reports.ch:
		if rc.State != channels.StateDelivered || rc.RecipientID != "r1" || rc.Detail != "acknowledged" {
			t.Errorf("receipt %+v", rc)
		}
	case <-ctx.Done():
		t.Fatal("no acknowledgement from the page")
	}
	cancel()
	cancelBrowser()
	cancelAlloc()
}
