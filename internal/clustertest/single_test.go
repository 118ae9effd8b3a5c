package clustertest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels/sms/smscsim"
	"github.com/alertcast/alertcast/internal/testsvc"
)

const singleAdminToken = "clustertest-admin-token-0123456789"

// single is one all-roles alertd process on SQLite, as the README's first
// command runs it.
type single struct {
	t       *testing.T
	bin     string
	dataDir string
	conf    string
	redis   string // --redis; "" for the managed redis-server
	base    string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
	log     string
}

func newSingle(t *testing.T, sim *smscsim.Server, redisURL string) *single {
	t.Helper()
	alertd, _ := binaries(t)
	dir := t.TempDir()
	s := &single{t: t, bin: alertd, dataDir: filepath.Join(dir, "data"), conf: filepath.Join(dir, "alertd.yaml"),
		redis: redisURL, log: filepath.Join(dir, "alertd.log"),
		base: fmt.Sprintf("http://127.0.0.1:%d", testsvc.FreePort(t))}
	if err := os.WriteFile(s.conf, []byte(smsGatewayYAML(sim)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.exited != nil {
			select {
			case <-s.exited:
			default:
				_ = s.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-s.exited:
				case <-time.After(30 * time.Second):
					t.Errorf("alertd did not stop within 30 s of SIGTERM; killing it")
					_ = s.cmd.Process.Kill()
					<-s.exited
				}
			}
		}
		if t.Failed() {
			t.Logf("---- tail of alertd.log ----\n%s", tail(s.log, 60))
		}
	})
	return s
}

// start runs alertd on the data dir and waits for /readyz.
func (s *single) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	args := []string{"--config", s.conf, "--data-dir", s.dataDir, "--listen", strings.TrimPrefix(s.base, "http://"), "--public-url", s.base}
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Env = append(os.Environ(), "ALERTCAST_ADMIN_TOKEN="+singleAdminToken)
	if s.redis != "" {
		s.cmd.Env = append(s.cmd.Env, "ALERTCAST_REDIS_URL="+s.redis)
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(exited) }(s.cmd)
	s.exited = exited
	for {
		select {
		case <-exited:
			s.t.Fatalf("alertd exited at start: %v", s.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := http.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
	}
}

// kill9 kills alertd with SIGKILL and waits until it and the redis-server
// it manages on its data dir are gone, so the next start owns the AOF alone.
func (s *single) kill9() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	<-s.exited
	conf := filepath.Join(s.dataDir, "redis", "redis.conf")
	deadline := time.Now().Add(30 * time.Second)
	for managedRedisRunning(conf) {
		if time.Now().After(deadline) {
			s.t.Fatalf("the redis-server managed on %s outlived alertd by 30 s", conf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// managedRedisRunning reports whether a redis-server started with conf (a
// path unique to this test) is running.
func managedRedisRunning(conf string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 2 && strings.Contains(args[0], "redis-server") && args[1] == conf {
			if st, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat")); err == nil && zombie(string(st)) {
				continue
			}
			return true
		}
	}
	return false
}

// zombie reports whether a /proc/PID/stat line is a zombie's.
func zombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

// waitFor polls cond until it holds and returns how long that took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	for !cond() {
		if time.Since(t0) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(t0)
}

// The single embedded alertd (SQLite, its own managed redis-server) is
// killed with SIGKILL mid-broadcast and started again on its data dir: the
// warning completes, and the SMSC got no part twice.
func TestSingleAlertdKilledAndRestarted(t *testing.T) {
	slow(t)
	testsvc.Need(t, "redis-server")
	sim := startSim(t)
	s := newSingle(t, sim, "")
	s.start()
	pop := newPopulation(t, residents)
	op := importResidents(t, s.base, singleAdminToken, pop)
	spk := startFleet(t, []string{s.base}, singleAdminToken)
	id := issue(t, s.base, op, countyExercise("sms", "speaker"))
	bases := []string{s.base}
	midBroadcast(t, bases, op, id, pop)
	s.kill9()
	checkStillRunning(t, sim, pop, "alertd was killed")
	atKill := sim.Accepted()
	s.start()
	back := time.Now()
	// Re-run, seen from the SMSC: submits resume. The timeout leaves room
	// for Asynq's own lease recovery (over a minute) should the takeover
	// of the dead process's batches not happen.
	resumed := waitFor(t, 150*time.Second, "submits after the restart", func() bool { return sim.Accepted() > atKill })
	p := waitProgress(t, bases, op, id, 240*time.Second, "completion", smsProgress.complete)
	took := time.Since(back)
	report(t, "single alertd killed and restarted on its data dir: submits resumed %s after the restart, the warning completed %s after it (%v)",
		resumed.Round(100*time.Millisecond), took.Round(100*time.Millisecond), p)
	budget(t, "re-running the warning's batches after alertd's restart", resumed, recoveryBudgetWorker)
	verify(t, recordsAPI(t, s.base, op, id), sim, pop, inflightPerNode)
	spk.verify(t, id, s.base, op)
}

// A lone redis-server (AOF everysec) under one alertd is killed with
// SIGKILL mid-broadcast and started again 3 s later: the warning completes,
// and the SMSC got no part twice.
func TestSingleRedisKilledAndRestarted(t *testing.T) {
	slow(t)
	rs := testsvc.Redis(t)
	sim := startSim(t)
	s := newSingle(t, sim, rs.URL())
	s.start()
	pop := newPopulation(t, residents)
	op := importResidents(t, s.base, singleAdminToken, pop)
	spk := startFleet(t, []string{s.base}, singleAdminToken)
	id := issue(t, s.base, op, countyExercise("sms", "speaker"))
	bases := []string{s.base}
	midBroadcast(t, bases, op, id, pop)
	rs.Stop()
	checkStillRunning(t, sim, pop, "redis-server was killed")
	// The outage the issue measures: Redis away for 3 s, not a wait for anything.
	time.Sleep(3 * time.Second)
	rs.Restart(t)
	back := time.Now()
	p := waitProgress(t, bases, op, id, 150*time.Second, "completion", smsProgress.complete)
	took := time.Since(back)
	report(t, "lone redis-server killed and started 3 s later: the warning completed %s after Redis was back (%v)", took.Round(100*time.Millisecond), p)
	budget(t, "completing the warning after Redis came back", took, recoveryBudgetRedis)
	verify(t, recordsAPI(t, s.base, op, id), sim, pop, 0)
	spk.verify(t, id, s.base, op)
}
