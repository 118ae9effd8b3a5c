// Package channeltest is the conformance suite every channels.Channel runs,
// in the spirit of testing/slogtest: a channel's own test supplies a Harness
// (how to build a fresh channel, which recipients succeed or fail, how to
// observe the far end) and Run checks the behaviour the contract promises:
//
//   - one Result per recipient, with matching ids and consistent states;
//   - a message that fails channels.Message.Validate refused permanently,
//     and nothing of it sent;
//   - permanent versus transient failures told apart with channels.IsPermanent;
//   - a cancelled context honoured promptly, before and in the middle of a
//     batch: Send returns, and nothing more is sent;
//   - asynchronous receipts reported through the injected channels.Reporter;
//   - no secret (password, token, key) in logs or errors;
//   - Close safe to call twice, and Send refused afterwards with
//     channels.ErrClosed.
//
// Optional Harness fields switch on the checks a channel can support. A
// channel that cannot support one says why in the matching No… field (the
// reason is printed as the skip message); an optional field left unset
// without a reason fails the suite, so no check is ever off by silence.
package channeltest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
)

// Env is what the suite hands to Harness.New: the channel must log to Logger
// and report receipts to Reporter, so the suite can inspect both.
type Env struct {
	Logger   *slog.Logger
	Reporter channels.Reporter
}

// Harness describes one channel implementation under test.
type Harness struct {
	// New returns a fresh channel wired to env. Required. Cleanup (Close,
	// stopping simulators) is the harness's business via t.Cleanup, but the
	// suite may itself Close a channel that implements channels.Closer.
	New func(t *testing.T, env Env) channels.Channel

	// Good returns n distinct recipients whose delivery succeeds. Required.
	Good func(t *testing.T, n int) []channels.Recipient

	// Permanent returns a recipient whose delivery fails permanently
	// (invalid number, unknown device). When nil, NoPermanent says why.
	Permanent func(t *testing.T) channels.Recipient
	// NoPermanent is why no recipient can fail permanently on its own.
	NoPermanent string

	// Transient returns a recipient whose delivery fails transiently
	// (throttled, device offline). When nil, NoTransient says why.
	Transient func(t *testing.T) channels.Recipient
	// NoTransient is why no recipient can fail transiently on its own (for
	// example: one publication serves every recipient, so a transient
	// fault fails the whole batch with Send's error).
	NoTransient string

	// Message returns the message to send. Nil means Sample().
	Message func() *channels.Message

	// Receipts is true when every good recipient's delivery is followed by
	// an asynchronous Receipt (matched by Result.Ref or RecipientID).
	Receipts bool
	// NoReceipts is why the channel reports no asynchronous receipts
	// (for example: its results are final when Send returns).
	NoReceipts string
	// TriggerReceipts, when set, is called after a successful Send to make
	// the far end produce receipts (post a DLR callback, play on a fake
	// speaker). Most channels get receipts without help.
	TriggerReceipts func(t *testing.T, results []channels.Result)

	// Delivered, when set, counts messages that actually reached the far
	// end (the simulator's submit count, a fake device's inbox). It lets the
	// suite prove that nothing more is sent after cancellation.
	Delivered func() int
	// CancelBatch is the size of a batch large enough that Send is still
	// busy once the far end has seen its first message (e.g. 3000 against
	// a simulator at 2000 TPS). Zero means 50.
	CancelBatch int
	// Indivisible, when set, says why one Send is a single operation that
	// a cancellation cannot split (one publication serves every recipient,
	// one insert records the batch). The mid-batch check then cancels while
	// Send starts and asserts all or nothing: every recipient done, or none,
	// and the far end (Delivered) got all of the batch or none of it.
	Indivisible string

	// Secret must never appear in the channel's logs or errors (gateway
	// password, HMAC secret, device token). When empty, NoSecret says why.
	Secret string
	// NoSecret is why the channel holds no secret to leak.
	NoSecret string
	// Logs, when set, returns log output captured outside Env.Logger (a
	// child process, a simulator); it is searched for Secret too.
	Logs func() string

	// Timeout bounds each Send and receipt wait. Zero means 10 s.
	Timeout time.Duration
	// CancelWithin is how soon Send must return once its context is done.
	// Zero means 2 s.
	CancelWithin time.Duration
}

// Sample is a small bilingual drill message, used when Harness.Message is nil.
func Sample() *channels.Message {
	return &channels.Message{
		Key: "conformance-1/v1", AlertID: "conformance-1", Version: 1,
		Kind: warning.KindAlert, Level: warning.LevelOrange,
		Event: warning.EventSandstorm, Status: warning.StatusExercise,
		Sent: time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC), Expires: time.Date(2026, 4, 1, 20, 0, 0, 0, time.UTC),
		Area: []string{"653122"},
		Texts: map[string]channels.Text{
			"zh": {Headline: "沙尘暴橙色预警", Description: "预计今天下午有强沙尘暴。", Instruction: "请关好门窗，减少外出。"},
			"ug": {Headline: "قۇم-بوران ئاگاھلاندۇرۇشى", Description: "بۈگۈن چۈشتىن كېيىن كۈچلۈك قۇم-بوران بولىدۇ.", Instruction: "ئىشىك-دېرىزىلەرنى ئېتىۋېلىڭ."},
		},
	}
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Good == nil {
		t.Fatal("channeltest: Harness.New and Harness.Good are required")
	}
	if h.Timeout == 0 {
		h.Timeout = 10 * time.Second
	}
	if h.CancelWithin == 0 {
		h.CancelWithin = 2 * time.Second
	}
	if h.Message == nil {
		h.Message = Sample
	}
	if h.CancelBatch == 0 {
		h.CancelBatch = 50
	}
	for _, c := range []struct {
		off    bool
		reason string
		want   string
	}{
		{h.Permanent == nil, h.NoPermanent, "Permanent or NoPermanent"},
		{h.Transient == nil, h.NoTransient, "Transient or NoTransient"},
		{!h.Receipts, h.NoReceipts, "Receipts or NoReceipts"},
		{h.Secret == "", h.NoSecret, "Secret or NoSecret"},
	} {
		if c.off && strings.TrimSpace(c.reason) == "" {
			t.Fatalf("channeltest: Harness needs %s: a check is off only for a stated reason", c.want)
		}
	}
	if m := h.Message(); m.Validate() != nil {
		t.Fatalf("channeltest: Harness.Message is not a valid message: %v", m.Validate())
	}
	s := &suite{h: h}
	t.Run("ResultsPerRecipient", s.results)
	t.Run("InvalidMessage", s.invalid)
	t.Run("PermanentFailure", s.permanent)
	t.Run("TransientFailure", s.transient)
	t.Run("CancelledBeforeSend", s.cancelledBefore)
	t.Run("CancelledMidBatch", s.cancelledMid)
	t.Run("Receipts", s.receipts)
	t.Run("CloseTwice", s.closeTwice)
	// Last: it reads the logs every other subtest produced.
	t.Run("NoSecretInLogs", s.noSecret)
}

type suite struct {
	h Harness

	mu   sync.Mutex
	logs bytes.Buffer // every channel's log output, for the secret check
	errs []string     // every Result.Err and Send error text
}

// env builds a fresh logger and recording reporter for one channel.
func (s *suite) env() (Env, *Recorder) {
	rec := &Recorder{}
	w := writerFunc(func(p []byte) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.logs.Write(p)
	})
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return Env{Logger: log, Reporter: rec}, rec
}

func (s *suite) newChannel(t *testing.T) (channels.Channel, *Recorder) {
	t.Helper()
	env, rec := s.env()
	ch := s.h.New(t, env)
	if ch == nil {
		t.Fatal("Harness.New returned nil")
	}
	if ch.Name() == "" {
		t.Fatal("Name() is empty")
	}
	return ch, rec
}

func (s *suite) noteErr(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	s.errs = append(s.errs, err.Error())
	s.mu.Unlock()
}

// send runs Send with the harness timeout and checks the result shape.
func (s *suite) send(t *testing.T, ch channels.Channel, to []channels.Recipient) []channels.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	defer cancel()
	res, err := ch.Send(ctx, s.h.Message(), to)
	s.noteErr(err)
	for _, r := range res {
		s.noteErr(r.Err)
	}
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	CheckResults(t, to, res)
	return res
}

// CheckResults fails t unless res holds exactly one Result per recipient of
// to, with no unknown or duplicate ids, and each Result's state agrees with
// its Err. It returns the results by recipient id.
func CheckResults(t testing.TB, to []channels.Recipient, res []channels.Result) map[string]channels.Result {
	t.Helper()
	want := make(map[string]bool, len(to))
	for _, r := range to {
		want[r.ID] = true
	}
	got := make(map[string]channels.Result, len(res))
	for _, r := range res {
		if !want[r.RecipientID] {
			t.Errorf("result for unknown recipient %q", r.RecipientID)
			continue
		}
		if _, dup := got[r.RecipientID]; dup {
			t.Errorf("two results for recipient %q", r.RecipientID)
		}
		got[r.RecipientID] = r
		switch r.State {
		case channels.StateSent, channels.StateDelivered, channels.StateNotSent:
			if r.Err != nil {
				t.Errorf("recipient %q: state %s with error %v", r.RecipientID, r.State, r.Err)
			}
		case channels.StateFailed:
			if r.Err == nil {
				t.Errorf("recipient %q: state failed without an error", r.RecipientID)
			}
		default:
			t.Errorf("recipient %q: result state %s (want sent, delivered, not_sent or failed)", r.RecipientID, r.State)
		}
	}
	for id := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("no result for recipient %q", id)
		}
	}
	return got
}

func (s *suite) results(t *testing.T) {
	ch, _ := s.newChannel(t)
	to := s.h.Good(t, 5)
	res := CheckResults(t, to, s.send(t, ch, to))
	for id, r := range res {
		if !r.State.Done() {
			t.Errorf("good recipient %q: state %s, err %v", id, r.State, r.Err)
		}
	}
}

// invalid: a message that fails channels.Message.Validate is refused
// permanently, as Send's error or as a permanent failure of every
// recipient, with an error naming the field; nothing of it is sent.
func (s *suite) invalid(t *testing.T) {
	ch, _ := s.newChannel(t)
	to := s.h.Good(t, 2)
	before := s.delivered()
	for _, c := range []struct {
		field string
		spoil func(m *channels.Message)
	}{
		{"message.level", func(m *channels.Message) { m.Level = warning.LevelUnknown }},
		{"message.status", func(m *channels.Message) { m.Status = warning.StatusUnknown }},
		{"message.key", func(m *channels.Message) { m.Key = "" }},
	} {
		m := s.h.Message()
		c.spoil(m)
		ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
		res, err := ch.Send(ctx, m, to)
		cancel()
		s.noteErr(err)
		for _, r := range res {
			s.noteErr(r.Err)
		}
		if err != nil {
			if !channels.IsPermanent(err) || !namesField(err, c.field) {
				t.Errorf("%s spoilt: Send error %v (want channels.Permanent of a *warning.FieldError naming %s)", c.field, err, c.field)
			}
			for _, r := range res {
				if r.State.Done() {
					t.Errorf("%s spoilt: recipient %q reported %s", c.field, r.RecipientID, r.State)
				}
			}
			continue
		}
		for id, r := range CheckResults(t, to, res) {
			if r.State != channels.StateFailed || !channels.IsPermanent(r.Err) || !namesField(r.Err, c.field) {
				t.Errorf("%s spoilt: recipient %q %s %v (want a permanent failure naming %s)", c.field, id, r.State, r.Err, c.field)
			}
		}
	}
	if s.h.Delivered == nil {
		return
	}
	if after := s.quiet(t); after != before {
		t.Errorf("far end received %d messages of invalid messages", after-before)
	}
	// Positive control: the same recipients do get a valid message, so
	// the far end was watched, not blind.
	s.send(t, ch, to)
	waitFor(t, s.h.Timeout, "the valid message at the far end", func() bool { return s.delivered() > before })
}

func namesField(err error, field string) bool {
	var fe *warning.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

func (s *suite) permanent(t *testing.T) {
	if s.h.Permanent == nil {
		t.Skip("no permanent failure per recipient: " + s.h.NoPermanent)
	}
	ch, _ := s.newChannel(t)
	bad := s.h.Permanent(t)
	to := append(s.h.Good(t, 2), bad)
	res := CheckResults(t, to, s.send(t, ch, to))
	r := res[bad.ID]
	if r.State != channels.StateFailed || !channels.IsPermanent(r.Err) {
		t.Errorf("permanent recipient: state %s err %v (want failed + channels.Permanent)", r.State, r.Err)
	}
	for _, g := range to[:2] {
		if !res[g.ID].State.Done() {
			t.Errorf("good recipient %q beside a permanent failure: %s %v", g.ID, res[g.ID].State, res[g.ID].Err)
		}
	}
}

func (s *suite) transient(t *testing.T) {
	if s.h.Transient == nil {
		t.Skip("no transient failure per recipient: " + s.h.NoTransient)
	}
	ch, _ := s.newChannel(t)
	bad := s.h.Transient(t)
	to := append(s.h.Good(t, 2), bad)
	res := CheckResults(t, to, s.send(t, ch, to))
	r := res[bad.ID]
	if r.State != channels.StateFailed || r.Err == nil || channels.IsPermanent(r.Err) {
		t.Errorf("transient recipient: state %s err %v (want failed, not permanent)", r.State, r.Err)
	}
	for _, g := range to[:2] {
		if !res[g.ID].State.Done() {
			t.Errorf("good recipient %q beside a transient failure: %s %v", g.ID, res[g.ID].State, res[g.ID].Err)
		}
	}
}

func (s *suite) cancelledBefore(t *testing.T) {
	ch, _ := s.newChannel(t)
	to := s.h.Good(t, 3)
	before := s.delivered()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	res, err := ch.Send(ctx, s.h.Message(), to)
	s.noteErr(err)
	if d := time.Since(start); d > s.h.CancelWithin {
		t.Errorf("Send with a cancelled context took %s (limit %s)", d, s.h.CancelWithin)
	}
	for _, r := range res {
		s.noteErr(r.Err)
		if r.State.Done() {
			t.Errorf("recipient %q reported %s although the context was cancelled before Send", r.RecipientID, r.State)
		}
	}
	if err == nil && len(res) < len(to) {
		t.Errorf("Send returned nil error but only %d of %d results", len(res), len(to))
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context: %v (want an error wrapping context.Canceled)", err)
	}
	if s.h.Delivered != nil {
		if after := s.quiet(t); after != before {
			t.Errorf("far end received %d messages after a Send with a cancelled context", after-before)
		}
	}
}

// cancelledMid cancels a batch under way. Send must return promptly with
// well-formed results (a nil error only when every recipient has one); what
// it reports done must have reached the far end, and what reached the far
// end after cancellation must not be the whole batch (for a divisible
// channel) or must be all or none of it (Harness.Indivisible).
func (s *suite) cancelledMid(t *testing.T) {
	ch, _ := s.newChannel(t)
	to := s.h.Good(t, s.h.CancelBatch)
	before := s.delivered()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type out struct {
		res []channels.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := ch.Send(ctx, s.h.Message(), to)
		done <- out{res, err}
	}()
	// A divisible batch whose far end can be observed is cancelled once
	// the far end has seen traffic, so the batch is really under way.
	// Otherwise it is cancelled while Send starts: for an indivisible
	// batch any moment is as good, and without an observable far end
	// there is no event to wait for.
	observed := s.h.Indivisible == "" && s.h.Delivered != nil
	if observed {
		waitFor(t, s.h.Timeout, "first delivery", func() bool { return s.delivered() > before })
	}
	cancel()
	cancelled := time.Now()
	var o out
	select {
	case o = <-done:
	case <-time.After(s.h.CancelWithin + s.h.Timeout):
		t.Fatalf("Send did not return within %s of cancellation", s.h.CancelWithin+s.h.Timeout)
	}
	if d := time.Since(cancelled); d > s.h.CancelWithin {
		t.Errorf("Send returned %s after cancellation (limit %s)", d, s.h.CancelWithin)
	}
	s.noteErr(o.err)
	want := make(map[string]bool, len(to))
	for _, r := range to {
		want[r.ID] = true
	}
	seen := map[string]bool{}
	doneCount := 0
	for _, r := range o.res {
		s.noteErr(r.Err)
		if !want[r.RecipientID] {
			t.Errorf("result for unknown recipient %q", r.RecipientID)
		}
		if seen[r.RecipientID] {
			t.Errorf("two results for recipient %q", r.RecipientID)
		}
		seen[r.RecipientID] = true
		if r.State.Done() {
			doneCount++
		} else if r.State == channels.StateFailed && channels.IsPermanent(r.Err) {
			t.Errorf("good recipient %q failed permanently on cancellation: %v (it must be retried)", r.RecipientID, r.Err)
		}
	}
	if o.err == nil && len(seen) < len(to) {
		t.Errorf("Send returned nil error but only %d of %d results", len(seen), len(to))
	}
	if o.err != nil && channels.IsPermanent(o.err) {
		t.Errorf("Send error on cancellation is permanent: %v (the batch must be retried)", o.err)
	}
	if s.h.Indivisible != "" {
		if doneCount != 0 && doneCount != len(to) {
			t.Errorf("indivisible batch (%s) split by cancellation: %d of %d done", s.h.Indivisible, doneCount, len(to))
		}
	} else if observed && doneCount == len(to) {
		t.Errorf("whole batch of %d finished after cancellation: cancellation was not honoured, or CancelBatch is too small to prove it", len(to))
	}
	if s.h.Delivered == nil {
		t.Logf("cancelled: %d of %d done, error %v", doneCount, len(to), o.err)
		return
	}
	got := s.quiet(t) - before
	t.Logf("cancelled: %d of %d done, %d at the far end, error %v", doneCount, len(to), got, o.err)
	if got < doneCount {
		t.Errorf("%d recipients reported done but the far end received only %d", doneCount, got)
	}
	switch {
	case s.h.Indivisible != "" && got != 0 && got != len(to):
		t.Errorf("indivisible batch (%s): far end received %d of %d", s.h.Indivisible, got, len(to))
	case s.h.Indivisible == "" && got >= len(to):
		t.Errorf("far end received the whole batch (%d) although Send was cancelled under way (%d reported done)", got, doneCount)
	}
}

// quiet waits until the far end's count stops moving and returns it: after
// Send returned, nothing more may arrive.
func (s *suite) quiet(t *testing.T) int {
	t.Helper()
	last := s.delivered()
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		n := s.delivered()
		if n != last {
			t.Errorf("far end still receiving after Send returned: %d → %d", last, n)
			last = n
		}
	}
	return last
}

func (s *suite) delivered() int {
	if s.h.Delivered == nil {
		return 0
	}
	return s.h.Delivered()
}

func (s *suite) receipts(t *testing.T) {
	if !s.h.Receipts {
		t.Skip("no asynchronous receipts: " + s.h.NoReceipts)
	}
	ch, rec := s.newChannel(t)
	to := s.h.Good(t, 4)
	res := s.send(t, ch, to)
	if s.h.TriggerReceipts != nil {
		s.h.TriggerReceipts(t, res)
	}
	waitFor(t, s.h.Timeout, "a receipt for every recipient", func() bool {
		for _, r := range res {
			if _, ok := rec.Find(r); !ok {
				return false
			}
		}
		return true
	})
	for _, r := range res {
		got, _ := rec.Find(r)
		if got.Channel != ch.Name() {
			t.Errorf("receipt channel %q, want %q", got.Channel, ch.Name())
		}
		if got.State == channels.StateUnknown || got.State == channels.StatePlanned {
			t.Errorf("receipt for %q has state %s", r.RecipientID, got.State)
		}
		if got.At.IsZero() {
			t.Errorf("receipt for %q has no time", r.RecipientID)
		}
	}
}

func (s *suite) closeTwice(t *testing.T) {
	ch, _ := s.newChannel(t)
	c, ok := ch.(channels.Closer)
	if !ok {
		t.Skip("channel does not implement channels.Closer")
	}
	s.send(t, ch, s.h.Good(t, 1))
	errc := make(chan error, 2)
	go func() { errc <- c.Close(); errc <- c.Close() }()
	for i := range 2 {
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Close #%d: %v", i+1, err)
			}
		case <-time.After(s.h.Timeout):
			t.Fatalf("Close #%d did not return within %s", i+1, s.h.Timeout)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	defer cancel()
	to := s.h.Good(t, 1)
	res, err := ch.Send(ctx, s.h.Message(), to)
	s.noteErr(err)
	if !errors.Is(err, channels.ErrClosed) {
		t.Errorf("Send after Close: error %v, want channels.ErrClosed", err)
	}
	for _, r := range res {
		if r.State.Done() {
			t.Errorf("Send after Close reported recipient %q as %s", r.RecipientID, r.State)
		}
	}
}

func (s *suite) noSecret(t *testing.T) {
	if s.h.Secret == "" {
		t.Skip("no secret: " + s.h.NoSecret)
	}
	s.mu.Lock()
	logs := s.logs.String()
	errs := strings.Join(s.errs, "\n")
	s.mu.Unlock()
	if s.h.Logs != nil {
		logs += s.h.Logs()
	}
	if strings.Contains(logs, s.h.Secret) {
		t.Errorf("secret appears in logs:\n%s", excerpt(logs, s.h.Secret))
	}
	if strings.Contains(errs, s.h.Secret) {
		t.Errorf("secret appears in an error:\n%s", excerpt(errs, s.h.Secret))
	}
}

func excerpt(s, needle string) string {
	i := strings.Index(s, needle)
	lo, hi := max(0, i-200), min(len(s), i+len(needle)+200)
	return s[lo:hi]
}

// Recorder is a channels.Reporter that keeps every receipt.
type Recorder struct {
	mu       sync.Mutex
	receipts []channels.Receipt
}

// Report records r.
func (r *Recorder) Report(_ context.Context, rc channels.Receipt) {
	r.mu.Lock()
	r.receipts = append(r.receipts, rc)
	r.mu.Unlock()
}

// Receipts returns a copy of what was reported so far.
func (r *Recorder) Receipts() []channels.Receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]channels.Receipt(nil), r.receipts...)
}

// Find returns the last receipt matching res by Ref (when set) or recipient id.
func (r *Recorder) Find(res channels.Result) (channels.Receipt, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.receipts) - 1; i >= 0; i-- {
		rc := r.receipts[i]
		if (res.Ref != "" && rc.Ref == res.Ref) || (rc.RecipientID != "" && rc.RecipientID == res.RecipientID) {
			return rc, true
		}
	}
	return channels.Receipt{}, false
}

// waitFor polls cond until it holds or timeout passes, then fails t.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
