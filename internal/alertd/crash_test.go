package alertd

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// startWorker runs a worker-only alertd as a child process (the test binary
// re-executed, see TestMain).
func startWorker(t *testing.T, redisURL, db, dataDir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"ALERTCAST_TEST_AS_ALERTD=1",
		"ALERTCAST_ROLES=worker",
		"ALERTCAST_REDIS_URL="+redisURL,
		"ALERTCAST_DB="+db,
		"ALERTCAST_DATA_DIR="+dataDir,
		"ALERTCAST_WORKERS=2",
		"ALERTCAST_LOG_LEVEL=warn",
	)
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// A worker process killed with SIGKILL in the middle of a batch is
// restarted; Asynq re-runs its task and every recipient ends with exactly
// one delivery: nothing lost, and the re-run chunk is absorbed by the
// channel's idempotency (the outbox counts the re-sends it absorbed).
func TestWorkerKilledMidBatchDeliversExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a minute (Asynq lease recovery)")
	}
	db := testsvc.Postgres(t)
	dataDir := t.TempDir()
	s := startServer(t, func(c *Config) {
		c.Roles = []string{"api", "scheduler"}
		c.DB = db
		c.DataDir = dataDir
	})
	const residents = 20000
	importPopulation(t, s.Base, residents, 0)
	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)
	body = strings.Replace(body, `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	body = strings.Replace(body, `"codes":["653122100","653122201"]`, `"codes":["653122"]`, 1)
	body = strings.Replace(body, `"channels":["speaker","sms","websocket","voice"]`, `"channels":["sms"]`, 1)

	w1 := startWorker(t, s.Redis.URL(), db, dataDir)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)

	// Kill the worker once part of the audience has been sent.
	var planned float64
	waitFor(t, 60*time.Second, "first deliveries", func() bool {
		_, out := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		p := progressOf(out)["sms"]
		planned = p["planned"]
		return p["not_sent"] > 1500
	})
	if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w1.Wait()
	_, out := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
	p := progressOf(out)["sms"]
	if p["not_sent"] >= planned {
		t.Fatalf("worker finished before it was killed (%v of %v): the test proves nothing", p["not_sent"], planned)
	}
	t.Logf("killed worker at %v/%v recorded", p["not_sent"], planned)

	startWorker(t, s.Redis.URL(), db, dataDir)
	done := waitDone(t, s.Base, op, id, 150*time.Second)
	p = progressOf(done)["sms"]
	if p["not_sent"] != planned || p["failed"] != 0 || planned < residents/2 {
		t.Fatalf("after restart: %v (planned %v)", p, planned)
	}
	records, resends, err := s.store.OutboxStats(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if float64(records) != planned {
		t.Fatalf("outbox holds %d records for %v recipients", records, planned)
	}
	// At most the chunks in flight at the kill (2 workers × 200) were re-run.
	if resends > 2*200 {
		t.Fatalf("%d re-sends: more than the in-flight chunks", resends)
	}
	t.Logf("every one of %d recipients has exactly one outbox record; %d in-flight re-sends absorbed", records, resends)
}
