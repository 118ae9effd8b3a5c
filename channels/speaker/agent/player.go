package agent

import (
	"context"
	"errors"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// The player decides what sounds. Its rules, in order:
//
//   - a real warning outranks any drill; between two real warnings (or two
//     drills) the higher level outranks the lower;
//   - an item that outranks the one playing interrupts it; the interrupted
//     one goes back to the queue and plays again from its start afterwards
//     (if it has not expired);
//   - equal or lower rank waits in the queue, first come first served;
//   - a newer play of the same alert (an update) replaces the older one,
//     queued or playing;
//   - stop ends the alert's plays at once, queued or playing.
//
// So a drill never interrupts a real warning, even a red drill a blue one.

// item is one queued programme or live room.
type item struct {
	meta   cmdMeta
	play   *wire.Play
	live   *wire.LiveRoom
	alert  string
	level  int
	drill  bool
	until  time.Time
	order  uint64 // arrival; keeps FIFO within a rank, and an interrupted item's place
	played int    // repeats already finished

	playingSent     bool // touched only by the goroutine performing the item
	downloadingSent bool // set on the player loop before the item is performed
}

func (it *item) rank() int {
	r := it.level
	if !it.drill {
		r += 100
	}
	return r
}

type endReason int

const (
	endDone endReason = iota
	endPreempted
	endSuperseded
	endStopped
	endShutdown
)

type running struct {
	it     *item
	cancel context.CancelFunc
	why    endReason // set by the player loop before cancel
}

type finished struct {
	r      *running
	played int
	err    error
}

// player owns the queue; all of its state is touched only by its loop.
type player struct {
	a      *Agent
	events chan func()
	done   chan finished

	cur   *running
	queue []*item
	seq   uint64
	wg    sync.WaitGroup
}

func newPlayer(a *Agent) *player {
	return &player{a: a, events: make(chan func(), 64), done: make(chan finished, 1)}
}

// do runs f on the player loop.
func (p *player) do(ctx context.Context, f func()) {
	select {
	case p.events <- f:
	case <-ctx.Done():
	}
}

func (p *player) run(ctx context.Context) {
	// The expiry timer runs only while something waits in the queue: five
	// thousand idle simulated speakers must not wake every second.
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	armed := false
	for {
		select {
		case <-ctx.Done():
			expiry.Stop()
			if p.cur != nil {
				p.cur.why = endShutdown
				p.cur.cancel()
				<-p.done
			}
			p.wg.Wait()
			return
		case f := <-p.events:
			f()
		case fin := <-p.done:
			p.finish(fin)
		case <-expiry.C:
			armed = false
			p.expire()
		}
		p.schedule(ctx)
		if len(p.queue) > 0 && !armed {
			expiry.Reset(time.Second)
			armed = true
		}
	}
}

// add queues a play or live item; an older play of the same alert is
// superseded.
func (p *player) add(it *item) {
	p.seq++
	it.order = p.seq
	p.dropAlert(it.alert, endSuperseded, "superseded by "+it.meta.key)
	p.queue = append(p.queue, it)
	if it.play != nil && !p.a.cache.Has(it.play.SHA256) {
		p.a.report(it.meta, wire.StepDownloading, "")
		it.downloadingSent = true
		p.a.prefetch(it.play)
	}
}

// stop ends every play of alert, queued or current.
func (p *player) stop(alert string) bool {
	return p.dropAlert(alert, endStopped, "cancelled")
}

func (p *player) dropAlert(alert string, why endReason, reason string) bool {
	hit := false
	kept := p.queue[:0]
	for _, q := range p.queue {
		if q.alert == alert {
			p.a.report(q.meta, wire.StepRevoked, reason)
			hit = true
			continue
		}
		kept = append(kept, q)
	}
	p.queue = kept
	if p.cur != nil && p.cur.it.alert == alert && p.cur.why == endDone {
		p.cur.why = why
		p.cur.cancel()
		hit = true
	}
	return hit
}

func (p *player) expire() {
	now := p.a.now()
	kept := p.queue[:0]
	for _, q := range p.queue {
		if !q.until.After(now) {
			p.a.report(q.meta, wire.StepExpired, "")
			continue
		}
		kept = append(kept, q)
	}
	p.queue = kept
}

func (p *player) sortQueue() {
	sort.SliceStable(p.queue, func(i, j int) bool {
		a, b := p.queue[i], p.queue[j]
		if a.rank() != b.rank() {
			return a.rank() > b.rank()
		}
		return a.order < b.order
	})
}

func (p *player) schedule(ctx context.Context) {
	if ctx.Err() != nil || len(p.queue) == 0 {
		return
	}
	p.sortQueue()
	top := p.queue[0]
	if p.cur != nil {
		if p.cur.why == endDone && top.rank() > p.cur.it.rank() {
			p.cur.why = endPreempted
			p.cur.cancel()
		}
		return // start the next one when the current has ended
	}
	p.queue = p.queue[1:]
	if !top.until.After(p.a.now()) {
		p.a.report(top.meta, wire.StepExpired, "")
		p.schedule(ctx)
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	r := &running{it: top, cancel: cancel}
	p.cur = r
	p.a.setBusy(top.meta.key)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		played, err := p.a.perform(pctx, top)
		p.done <- finished{r: r, played: played, err: err}
	}()
}

func (p *player) finish(f finished) {
	r := f.r
	r.cancel()
	p.cur = nil
	it := r.it
	it.played = f.played
	// The state changes before the report goes out: whoever sees the report
	// (the platform, a test) then reads the state that goes with it.
	switch r.why {
	case endPreempted:
		if it.until.After(p.a.now()) {
			p.queue = append(p.queue, it) // keeps its order: first in its rank again
		} else {
			p.a.report(it.meta, wire.StepExpired, "")
		}
		p.a.setIdle(wire.StateNormal)
	case endSuperseded:
		p.a.setIdle(wire.StateNormal)
		p.a.report(it.meta, wire.StepRevoked, "superseded")
	case endStopped:
		p.a.setIdle(wire.StateStopped)
		p.a.report(it.meta, wire.StepRevoked, "cancelled")
	case endShutdown:
		// the agent is stopping; the command is reported nowhere and the
		// platform's hold was already acknowledged — nothing to do.
	default:
		switch {
		case errors.Is(f.err, ErrLiveUnsupported):
			p.a.setIdle(wire.StateNormal)
			p.a.report(it.meta, wire.StepRefused, f.err.Error())
		case f.err != nil:
			p.a.setIdle(wire.StateFault)
			p.a.report(it.meta, wire.StepFailed, f.err.Error())
		case it.live != nil:
			p.a.setIdle(wire.StateNormal)
			p.a.report(it.meta, wire.StepLeft, "")
		case f.played == 0:
			p.a.setIdle(wire.StateNormal)
			p.a.report(it.meta, wire.StepExpired, "")
		default:
			p.a.setIdle(wire.StateNormal)
			p.a.report(it.meta, wire.StepPlayed, "")
		}
	}
}

// perform plays an item's remaining repeats (or joins its live room). It
// runs on its own goroutine and returns how many repeats finished.
func (a *Agent) perform(ctx context.Context, it *item) (int, error) {
	if it.live != nil {
		lc := LiveCommand{Device: a.cfg.Device, Room: *it.live, Joined: func() { a.report(it.meta, wire.StepJoined, "") }}
		jctx, cancel := context.WithDeadline(ctx, it.until)
		defer cancel()
		err := a.cfg.Live.Join(jctx, lc, a.cfg.Sink)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = nil // the room's time is up
		}
		return 0, err
	}
	pl := it.play
	url := a.resolve(pl.URL)
	if !it.downloadingSent && !a.cache.Has(pl.SHA256) {
		// Evicted since it was queued: fetched again now.
		a.report(it.meta, wire.StepDownloading, "")
	}
	path, err := a.cache.Get(ctx, url, pl.SHA256)
	if err != nil {
		if ctx.Err() != nil {
			return it.played, ctx.Err()
		}
		return it.played, err
	}
	dur := pl.Duration
	if d, err := a.cache.Duration(pl.SHA256); err == nil {
		dur = d
	}
	played := it.played
	for r := played + 1; r <= pl.Repeats; r++ {
		if !it.until.After(a.now()) {
			break
		}
		if r == played+1 && !it.reportedPlaying() {
			a.report(it.meta, wire.StepPlaying, "")
		}
		err := a.cfg.Sink.Play(ctx, Programme{Path: path, Key: pl.Key, Level: pl.Level, Drill: pl.Drill,
			Repeat: r, Volume: a.volume(), Duration: dur})
		if ctx.Err() != nil {
			return played, ctx.Err()
		}
		if err != nil {
			return played, err
		}
		played = r
	}
	return played, nil
}

// reportedPlaying makes "playing" go out once per command even when an
// interrupted programme starts again.
func (it *item) reportedPlaying() bool {
	if it.playingSent {
		return true
	}
	it.playingSent = true
	return false
}

// wavFileDuration reads the duration from a WAV file's header.
func wavFileDuration(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	b := make([]byte, 4096)
	n, _ := io.ReadFull(f, b)
	return wavDuration(b[:n], st.Size())
}
