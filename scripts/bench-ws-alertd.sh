#!/usr/bin/env bash
# Issue call → the last of N resident pages, through a whole alertd: POST /api/v1/alerts (a yellow
# exercise to the whole county, channels: [websocket], no approval needed) → outbox relay → Asynq →
# worker → WebSocket hub → Redis stream → fan-out → N WebSocket subscribers spread over every village.
# `alertctl bench ws --trigger api` times each warning from the POST to the last subscriber's receipt;
# the next warning is issued when every subscriber has the previous one.
# Needs the binaries ALERTD and ALERTCTL (default /tmp/alertd and /tmp/alertctl: go build -o /tmp/ ./cmd/alertd
# ./cmd/alertctl) and redis-server on PATH (alertd manages its own). Loopback only; stops only the alertd it
# started (by PID).
# SUBSCRIBERS (5000), WARNINGS (30), PORT (18180) vary it; ALERTD_CPU / CLIENT_CPU pin alertd (with its
# redis-server) and the load client with taskset (e.g. 0 and 1); PPROF=file writes alertd's CPU profile
# over the first PPROF_SECONDS (default 4) of the warnings.
set -euo pipefail
SUBSCRIBERS=${SUBSCRIBERS:-5000} WARNINGS=${WARNINGS:-30} PORT=${PORT:-18180}
ALERTD=${ALERTD:-/tmp/alertd} ALERTCTL=${ALERTCTL:-/tmp/alertctl}
for b in "$ALERTD" "$ALERTCTL"; do
  [ -x "$b" ] || { echo "missing $b: go build -o /tmp/ ./cmd/alertd ./cmd/alertctl" >&2; exit 2; }
done
dir=$(mktemp -d /tmp/bench-ws-alertd.XXXXXX)
token=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
pprof_port=$((PORT + 1))
(
  export ALERTCAST_ADMIN_TOKEN=$token ALERTCAST_LOG_LEVEL=warn
  [ -n "${PPROF:-}" ] && export ALERTCAST_PPROF=127.0.0.1:$pprof_port
  exec ${ALERTD_CPU:+taskset -c "$ALERTD_CPU"} "$ALERTD" --data-dir "$dir/data" --listen "127.0.0.1:$PORT"
) >"$dir/alertd.log" 2>&1 &
pid=$!
stop() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap stop EXIT
for _ in $(seq 300); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "alertd exited:" >&2; cat "$dir/alertd.log" >&2; exit 1; }
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "alertd not ready after 30 s" >&2; cat "$dir/alertd.log" >&2; exit 1; }
echo "alertd pid $pid on 127.0.0.1:$PORT (cpu ${ALERTD_CPU:-any}), load average $(cut -d' ' -f1-3 /proc/loadavg)"
prof=""
if [ -n "${PPROF:-}" ]; then
  # Start profiling once the subscribers are connected: the bench prints "connected" first.
  (
    while ! grep -q '^connected' "$dir/bench.out" 2>/dev/null; do sleep 0.2; done
    curl -fsS -o "$PPROF" "http://127.0.0.1:$pprof_port/debug/pprof/profile?seconds=${PPROF_SECONDS:-4}"
  ) &
  prof=$!
fi
ALERTCAST_URL=http://127.0.0.1:$PORT ALERTCAST_TOKEN=$token "$ALERTCTL" bench ws \
  --url "ws://127.0.0.1:$PORT/ws" --trigger api --subscribers "$SUBSCRIBERS" --warnings "$WARNINGS" \
  --server-pid "$pid" ${CLIENT_CPU:+--client-cpu "$CLIENT_CPU"} | tee "$dir/bench.out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "$prof" ] || wait "$prof"
