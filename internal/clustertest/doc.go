// Package clustertest proves, against real processes, that Alertcast keeps
// its promise "nothing lost, nothing twice" when parts of a deployment die
// in the middle of a broadcast (issue 16).
//
// The tests drive the multi-node cluster of scripts/cluster.sh — PostgreSQL,
// a Redis master with two replicas behind three Sentinels, two API nodes,
// three worker nodes and a scheduler, each a real alertd process built from
// this tree — and the single embedded alertd, import a synthetic population,
// issue a county-wide SMS exercise through an API node, and then kill -9 a
// worker, the Redis master, PostgreSQL, an API node, the lone alertd or its
// lone redis-server while the warning is being sent. After each fault they
// check, from outside alertd:
//
//   - the warning completes: no delivery record is left pending;
//   - every recipient of the plan has exactly one record, in a final sending
//     state (sent or delivered), read back through the deliveries API;
//   - no phone received the same SMS part twice, counted by the SMPP SMSC
//     simulator the test runs (channels/sms/smscsim), not by alertd;
//   - every loudspeaker of a fleet of real agents (in the test's process,
//     connected to the API nodes) played the warning, and none played any
//     repeat of any command twice, counted by the devices themselves;
//   - for the API node: a WebSocket page connected to it reconnects to the
//     other node, resumes from its last event id and sees the warning once;
//
// and they log how long recovery took ("recovery:" lines) so the figures can
// be compared with the budgets.
//
// Everything here is test code: the package has no API and nothing may
// import it. The tests need redis-server, redis-sentinel and PostgreSQL;
// without them they skip, unless ALERTCAST_REQUIRE_SERVICES=1. They are slow
// (a cluster per test) and skipped by go test -short.
package clustertest
