package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/channels/sms/smscsim"
)

// residents per broadcast: enough for the fault to land mid-broadcast at
// simTPS, small enough for each test to stay well under two minutes.
const residents = 20000

// The issue's recovery budgets: a killed worker's (or a restarted lone
// alertd's) batches re-run within 10 s — taken over by a live node through
// the batch claims and the heartbeat sweeper (dispatch/engine/claims.go),
// not left to Asynq's lease recovery — and a warning complete within 20 s
// of a lone Redis coming back (tasks lost with the AOF's last second found
// again from the database's planned records).
const (
	enforceRecoveryBudgets = true
	recoveryBudgetWorker   = 10 * time.Second // a killed worker's batch re-run
	recoveryBudgetRedis    = 20 * time.Second // a lone Redis back: the warning complete
)

// inflightPerNode bounds the recipients one worker node can have handed
// to the SMSC without a recorded result when it dies: at simTPS the
// engine gives the SMS channel two chunks of send_chunk (200) at a time
// (dispatch/engine/slots.go), and two more may be waiting for their write.
const inflightPerNode = 2 * 2 * 200

// budget checks a measured recovery time against its budget.
func budget(t *testing.T, what string, took, limit time.Duration) {
	t.Helper()
	if took <= limit {
		t.Logf("recovery budget met: %s took %s, budget %s", what, took.Round(100*time.Millisecond), limit)
		return
	}
	msg := "recovery budget not yet met: %s took %s, budget %s"
	if enforceRecoveryBudgets {
		t.Errorf(msg, what, took.Round(100*time.Millisecond), limit)
	} else {
		t.Logf(msg+" (not enforced: enforceRecoveryBudgets is false)", what, took.Round(100*time.Millisecond), limit)
	}
}

// clusterBroadcast starts a cluster, imports the population, connects a
// fleet of loudspeakers to both API nodes (c.fleet) and issues an exercise
// to the whole county through api1, on the given channels and the
// loudspeakers.
func clusterBroadcast(t *testing.T, channels ...string) (c *cluster, sim *smscsim.Server, pop population, op, id string) {
	t.Helper()
	slow(t)
	sim = startSim(t)
	c = startCluster(t, sim)
	pop = newPopulation(t, residents)
	op = importResidents(t, c.api[0], c.token, pop)
	c.fleet = startFleet(t, c.api[:], c.token)
	id = issue(t, c.api[0], op, countyExercise(append(channels, "speaker")...))
	return c, sim, pop, op, id
}

// Two of the three workers are killed with SIGKILL in the middle of the
// broadcast, so at least one of them held a batch. The third (or Asynq's
// recovery of the dead workers' tasks) finishes it: every recipient has one
// record and no phone gets a part twice.
func TestClusterWorkerKilledMidBatch(t *testing.T) {
	c, sim, pop, op, id := clusterBroadcast(t, "sms")
	bases := c.api[:]
	midBroadcast(t, bases, op, id, pop)
	pids := []int{c.pid("worker1"), c.pid("worker2")}
	c.kill("worker1")
	c.kill("worker2")
	killed := time.Now()
	checkStillRunning(t, sim, pop, "worker1 and worker2 were killed")
	// The issue's budget: the dead workers' batches are re-run (taken over
	// by worker3) within 10 s. The timeout leaves room for Asynq's own
	// lease recovery (about a minute) should the takeover not happen.
	c.waitBatchesRerun(t, pids, 150*time.Second)
	rerun := time.Since(killed)
	p := waitProgress(t, bases, op, id, 240*time.Second, "completion", smsProgress.complete)
	took := time.Since(killed)
	report(t, "two of three workers killed: their batches were re-run %s after the kill, the warning completed %s after it (%v)",
		rerun.Round(100*time.Millisecond), took.Round(100*time.Millisecond), p)
	budget(t, "re-running the killed workers' batches", rerun, recoveryBudgetWorker)
	verify(t, c.records(t, id), sim, pop, 2*inflightPerNode)
	c.fleet.verify(t, id, c.api[0], op)
}

// The Redis master is killed with SIGKILL mid-broadcast: the Sentinels
// promote a replica, every node follows it, and the broadcast completes.
func TestClusterRedisMasterKilled(t *testing.T) {
	c, sim, pop, op, id := clusterBroadcast(t, "sms")
	bases := c.api[:]
	midBroadcast(t, bases, op, id, pop)
	c.kill("redis-master")
	killed := time.Now()
	checkStillRunning(t, sim, pop, "the Redis master was killed")
	promoted := c.waitPromotion(t, 60*time.Second)
	p := waitProgress(t, bases, op, id, 150*time.Second, "completion", smsProgress.complete)
	took := time.Since(killed)
	report(t, "Redis master killed: Sentinel promoted %s after %s; the warning completed %s after the kill (%v)",
		promoted.addr, promoted.after.Round(100*time.Millisecond), took.Round(100*time.Millisecond), p)
	verify(t, c.records(t, id), sim, pop, 0)
	c.fleet.verify(t, id, c.api[0], op)
}

// PostgreSQL is killed with SIGKILL mid-broadcast and started again: the
// nodes reconnect and the broadcast resumes and completes.
func TestClusterPostgresRestarted(t *testing.T) {
	c, sim, pop, op, id := clusterBroadcast(t, "sms")
	bases := c.api[:]
	midBroadcast(t, bases, op, id, pop)
	c.kill("postgres")
	killed := time.Now()
	checkStillRunning(t, sim, pop, "PostgreSQL was killed")
	c.start("postgres")
	back := time.Now()
	p := waitProgress(t, bases, op, id, 150*time.Second, "completion", smsProgress.complete)
	report(t, "PostgreSQL killed and started again (down %s): the warning completed %s after it was back (%v)",
		back.Sub(killed).Round(100*time.Millisecond), time.Since(back).Round(100*time.Millisecond), p)
	// Chunks sent while PostgreSQL died cannot be recorded: possibly sent.
	verify(t, c.records(t, id), sim, pop, len(clusterWorkers)*inflightPerNode)
	c.fleet.verify(t, id, c.api[0], op)
}

// promotion is what waitPromotion saw.
type promotion struct {
	addr  string
	after time.Duration
}

// waitPromotion waits until a Sentinel names a master other than the
// killed one (redis-master listens on port+1).
func (c *cluster) waitPromotion(t *testing.T, timeout time.Duration) promotion {
	t.Helper()
	old := fmt.Sprintf("127.0.0.1:%d", c.port+1)
	t0 := time.Now()
	for {
		for i := 5; i <= 7; i++ {
			sc := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", c.port+i)})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			hp, err := sc.GetMasterAddrByName(ctx, "alertcast").Result()
			cancel()
			sc.Close()
			if err == nil && len(hp) == 2 {
				if addr := hp[0] + ":" + hp[1]; addr != old {
					return promotion{addr, time.Since(t0)}
				}
			}
		}
		if time.Since(t0) > timeout {
			t.Fatalf("no Sentinel promoted a replica within %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
