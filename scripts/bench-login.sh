#!/usr/bin/env bash
# A password-guessing flood against a whole alertd on loopback: ATTACKERS (100) clients send wrong-password
# logins for DURATION (30s) while an officer with a bearer token lists warnings in a loop; alertbench reports the
# answers, the officer's latency and alertd's RSS before and at its peak. RUNS (3) runs, each on a fresh alertd
# (fresh data dir, its own managed redis-server). THROTTLE=off raises the per-user and per-address limits out
# of reach so that every login costs an Argon2id hash (the memory bound under test is then the hash semaphore).
# Needs /tmp/alertd and /tmp/alertbench (go build -o /tmp/ ./cmd/alertd ./cmd/alertbench), curl. Stops only the
# alertd it started.
set -euo pipefail
ALERTD=${ALERTD:-/tmp/alertd}; ALERTBENCH=${ALERTBENCH:-/tmp/alertbench}; PORT=${PORT:-18095}
dir=$(mktemp -d /tmp/bench-login.XXXXXX)
printf "log_level: warn\n" > "$dir/alertd.yaml"
if [ "${THROTTLE:-on}" = off ]; then
  printf "login:\n  user_failures: 1000000000\n  address_failures: 1000000000\n" >> "$dir/alertd.yaml"
fi
export ALERTCAST_URL=http://127.0.0.1:$PORT ALERTCAST_TOKEN=bench-login-admin-0123456789
pid=
trap '[ -n "$pid" ] && kill -INT $pid 2>/dev/null; true' EXIT
for i in $(seq "${RUNS:-3}"); do
  echo "== run $i (throttle ${THROTTLE:-on})"
  ALERTCAST_ADMIN_TOKEN=$ALERTCAST_TOKEN "$ALERTD" --config "$dir/alertd.yaml" --data-dir "$dir/data.$i" \
    --listen 127.0.0.1:$PORT > "$dir/alertd.$i.out" 2> "$dir/alertd.$i.err" &
  pid=$!
  for _ in $(seq 100); do curl -sf "$ALERTCAST_URL/readyz" >/dev/null && break; sleep 0.1; done
  "$ALERTBENCH" login --attackers "${ATTACKERS:-100}" --duration "${DURATION:-30s}" --pid $pid
  kill -INT $pid; wait $pid || true; pid=
done
rm -rf "$dir"
