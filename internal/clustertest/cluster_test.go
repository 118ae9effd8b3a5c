package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/sms/smscsim"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// Binaries are built once per test binary, from this tree, into binDir.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries returns the paths of alertd and alertctl built from this tree.
func binaries(t *testing.T) (alertd, alertctl string) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "alertcast-clustertest-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		t0 := time.Now()
		defer func() { t.Logf("built alertd and alertctl in %s", time.Since(t0).Round(time.Millisecond)) }()
		// As root, cluster.sh runs PostgreSQL as postgres; the binaries
		// only need to be readable by the user running the test.
		for _, name := range []string{"alertd", "alertctl"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), "github.com/alertcast/alertcast/cmd/"+name).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "alertd"), filepath.Join(binDir, "alertctl")
}

// slow, first in every test, skips under -short: every test here starts real processes and runs a
// broadcast of tens of thousands of SMS.
func slow(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a cluster of real processes and a broadcast of tens of thousands of SMS (-short)")
	}
	// Most of each test is spent waiting (lease recovery, failover): run
	// them side by side, as many as -parallel (GOMAXPROCS) allows.
	t.Parallel()
}

// needClusterServices skips (or fails under ALERTCAST_REQUIRE_SERVICES=1)
// without what scripts/cluster.sh runs.
func needClusterServices(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"bash", "curl", "redis-server", "redis-sentinel"} {
		testsvc.Need(t, bin)
	}
	if _, err := exec.LookPath("initdb"); err != nil {
		m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(m) == 0 {
			testsvc.Missing(t, "PostgreSQL initdb not found (install Debian package postgresql)")
		}
	}
}

// Process names of scripts/cluster.sh.
var (
	clusterStores  = []string{"postgres", "redis-master", "redis-replica1", "redis-replica2", "sentinel1", "sentinel2", "sentinel3"}
	clusterWorkers = []string{"worker1", "worker2", "worker3"}
)

// cluster is one scripts/cluster.sh cluster in a temp dir, on its own port
// range, torn down by PID when the test ends.
type cluster struct {
	fleet *fleet // the loudspeakers of clusterBroadcast
	t     *testing.T
	dir   string
	port  int
	env   []string
	token string    // admin
	api   [2]string // base URLs of api1, api2
}

// startCluster starts the stores, both API nodes, the workers and the
// scheduler of a cluster whose nodes send SMS through sim. The population is
// imported afterwards through an API node: the workers, already running,
// must plan with it (the population generation, dispatch/population_sync.go).
func startCluster(t *testing.T, sim *smscsim.Server) *cluster {
	t.Helper()
	needClusterServices(t)
	alertd, alertctl := binaries(t)

	// Not t.TempDir(): as root, PostgreSQL runs as the postgres user, which
	// must be able to reach CLUSTER_DIR/pg (t.TempDir's parents are 0700).
	dir, err := os.MkdirTemp("", "alertcast-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dir: dir, port: freePortRange(t, 31)}
	conf := filepath.Join(dir, "extra.yaml")
	if err := os.WriteFile(conf, []byte(smsGatewayYAML(sim)), 0o600); err != nil {
		t.Fatal(err)
	}
	c.env = append(os.Environ(),
		"CLUSTER_DIR="+filepath.Join(dir, "c"),
		"CLUSTER_PORT="+strconv.Itoa(c.port),
		"ALERTD="+alertd,
		"ALERTCTL="+alertctl,
		"CLUSTER_CONFIG="+conf,
	)
	// Cleanups run last-registered first: down, then the logs, then the files.
	t.Cleanup(func() {
		if os.Getenv("ALERTCAST_KEEP_CLUSTER") == "1" {
			t.Logf("cluster kept in %s (ALERTCAST_KEEP_CLUSTER=1)", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
	})
	t.Cleanup(func() {
		t0 := time.Now()
		if out, err := c.run("down"); err != nil {
			t.Errorf("cluster.sh down: %v\n%s", err, out)
		}
		t.Logf("cluster.sh down took %s", time.Since(t0).Round(time.Millisecond))
	})
	for _, name := range append(append(append([]string{}, clusterStores...), "api1", "api2", "scheduler"), clusterWorkers...) {
		c.start(name)
	}
	tok, err := os.ReadFile(filepath.Join(dir, "c", "shared", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c.token = strings.TrimSpace(string(tok))
	c.api = [2]string{fmt.Sprintf("http://127.0.0.1:%d", c.port+10), fmt.Sprintf("http://127.0.0.1:%d", c.port+11)}
	return c
}

func (c *cluster) run(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{"../../scripts/cluster.sh"}, args...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *cluster) start(name string) {
	c.t.Helper()
	t0 := time.Now()
	if out, err := c.run("start", name); err != nil {
		c.t.Fatalf("cluster.sh start %s: %v\n%s", name, err, out)
	}
	c.t.Logf("started %s in %s", name, time.Since(t0).Round(time.Millisecond))
}

// kill sends SIGKILL to one process of the cluster.
func (c *cluster) kill(name string) {
	c.t.Helper()
	if out, err := c.run("kill", name); err != nil {
		c.t.Fatalf("cluster.sh kill %s: %v\n%s", name, err, out)
	}
}

// pid returns the PID cluster.sh recorded for name, or 0.
func (c *cluster) pid(name string) int {
	b, err := os.ReadFile(filepath.Join(c.dir, "c", "pids", name+".pid"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// dumpLogs writes the tail of every log of the cluster to the test log.
func (c *cluster) dumpLogs() {
	logs, _ := filepath.Glob(filepath.Join(c.dir, "c", "logs", "*.log"))
	for _, l := range logs {
		c.t.Logf("---- tail of %s ----\n%s", filepath.Base(l), tail(l, 40))
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePortRange finds n consecutive free loopback ports and returns the
// first. They are taken below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range, 32768–60999 by default), where no client
// connection and no other test's listener on port 0 can take one between
// this check and cluster.sh binding it (a sentinel once lost its port so in
// CI); a fixed-port listener still can, and cluster.sh then fails loudly,
// naming the process.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	lo, hi := 10000, ephemeralLow()-n
	for range 100 {
		base := lo + rand.IntN(hi-lo)
		free := true
		for p := base; p < base+n && free; p++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				free = false
				continue
			}
			ln.Close()
		}
		if free {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports on 127.0.0.1", n)
	return 0
}

// simTPS caps the gateway so a broadcast takes long enough (seconds, not
// milliseconds) for a fault to land in the middle of it.
const simTPS = 2000

// smsGatewayYAML configures every node to send SMS through sim.
func smsGatewayYAML(sim *smscsim.Server) string {
	return fmt.Sprintf(`sms:
  gateways:
    - {name: smscsim, type: smpp, addr: %q, system_id: %s, password: %s, source_addr: "12379", tps: %d}
`, sim.Addr(), simSystemID, simPassword, simTPS)
}

const (
	simSystemID = "shule"
	simPassword = "pw8chars"
)

// startSim starts the SMSC simulator every test counts SMS parts with.
func startSim(t *testing.T) *smscsim.Server {
	t.Helper()
	sim, err := smscsim.Start(smscsim.Config{SystemID: simSystemID, Password: simPassword, Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// pgConn connects to the cluster's PostgreSQL.
func (c *cluster) pgConn(t *testing.T, ctx context.Context) *pgx.Conn {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(c.dir, "c", "shared", "pg.password"))
	if err != nil {
		t.Fatal(err)
	}
	dsn := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/alertcast?sslmode=disable", strings.TrimSpace(string(pw)), c.port)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the cluster's PostgreSQL: %v", err)
	}
	return conn
}

// waitBatchesRerun waits until no batch is claimed any more by a node of
// the given PIDs (node ids are host-PID-random, dispatch/engine): every
// batch those processes held has been taken over by a live node (or was
// finished before they died).
func (c *cluster) waitBatchesRerun(t *testing.T, pids []int, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	conn := c.pgConn(t, ctx)
	defer conn.Close(ctx)
	var pats []string
	for _, p := range pids {
		pats = append(pats, fmt.Sprintf("%%-%d-%%", p))
	}
	deadline := time.Now().Add(timeout)
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM send_claims WHERE node LIKE ANY($1)`, pats).Scan(&n)
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("batches still held by the killed nodes after %s: %d (err %v)", timeout, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// records reads a warning's SMS delivery records straight from the
// cluster's PostgreSQL: every row, so a duplicate would show (the primary
// key forbids one; this does not take that on trust).
func (c *cluster) records(t *testing.T, id string) map[string]record {
	t.Helper()
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := c.pgConn(t, ctx)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT recipient, address, state, last_error FROM deliveries
		WHERE alert_id = $1 AND version = 1 AND channel = 'sms'`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]record{}
	for rows.Next() {
		var r, addr, lastErr string
		var st int16
		if err := rows.Scan(&r, &addr, &st, &lastErr); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[r]; dup {
			t.Errorf("recipient %s has two SMS delivery records", r)
		}
		out[r] = record{channels.State(st).String(), addr, lastErr}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("read %d delivery records from PostgreSQL in %s", len(out), time.Since(t0).Round(time.Millisecond))
	return out
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 12000 {
		return 32768
	}
	return n
}
