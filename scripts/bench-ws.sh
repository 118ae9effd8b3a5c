#!/usr/bin/env bash
# The WebSocket hub against the floor, in the same run: ROUNDS pairs of `bench ws --spawn --baseline` (the
# minimal gorilla broadcaster: a reader and a writer goroutine per connection, no Redis, no matching) and
# `bench ws --spawn` (the real hub on a throwaway redis-server), server pinned to SERVER_CPU (0), load client
# to CLIENT_CPU (1), interleaved so both see the same machine; then a table with the ratios.
# SUBSCRIBERS (5000), WARNINGS (30), ROUNDS (3), PORT (18195) vary it; WSBENCH is the command (default
# "/tmp/alertctl bench ws": go build -o /tmp/ ./cmd/alertctl). PROFILE=dir also writes the servers' CPU and
# allocation profiles of the warnings of the first round to dir/{baseline,hub}/. The spawned servers are
# children of the bench command, which stops them by PID.
set -euo pipefail
SUBSCRIBERS=${SUBSCRIBERS:-5000} WARNINGS=${WARNINGS:-30} ROUNDS=${ROUNDS:-3} PORT=${PORT:-18195}
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
read -r -a bench <<<"${WSBENCH:-/tmp/alertctl bench ws}"
ulimit -n "$(ulimit -Hn)"
out=$(mktemp /tmp/bench-ws.XXXXXX)
trap 'rm -f "$out" "$out.err" "$out.row"' EXIT
run() { # kind round → one result row in $out.row
  local extra=()
  [ "$1" = baseline ] && extra+=(--baseline)
  [ -n "${PROFILE:-}" ] && [ "$2" = 1 ] && extra+=(--profile "$PROFILE/$1")
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  if ! "${bench[@]}" --spawn --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" --url "ws://127.0.0.1:$PORT/ws" \
    --subscribers "$SUBSCRIBERS" --warnings "$WARNINGS" "${extra[@]}" 2>"$out.err" >"$out"; then
    echo "$1 round $2 failed:" >&2
    cat "$out" "$out.err" >&2
    exit 1
  fi
  # "30 warnings × 5000 subscribers: issue → last subscriber p50 198.6ms p99 827.8ms max 827.8ms"
  local line mem cpu
  line=$(grep 'issue → last subscriber' "$out")
  mem=$(grep -o 'RSS [0-9.]* KB/conn' "$out" | awk '{print $2}')
  cpu=$(grep -o 'server [0-9.]* ms' "$out" | awk '{print $2}')
  echo "$2 $1 $load $(echo "$line" | grep -o 'p50 [^ ]*' | cut -d' ' -f2) $(echo "$line" | grep -o 'p99 [^ ]*' | cut -d' ' -f2) $mem $cpu" >"$out.row"
}
ms() { # 198.6ms | 1.18s → milliseconds
  case $1 in *ms) echo "${1%ms}" ;; *µs) awk -v v="${1%µs}" 'BEGIN{print v/1000}' ;; *s) awk -v v="${1%s}" 'BEGIN{print v*1000}' ;; esac
}
echo "bench ws: $SUBSCRIBERS subscribers, $WARNINGS warnings, $ROUNDS rounds, server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU, $(nproc) CPUs"
printf '%-5s %-9s %6s %10s %10s %8s %10s\n' round server load p50 p99 KB/conn CPU/warn
declare -A p50 p99
for r in $(seq "$ROUNDS"); do
  for kind in baseline hub; do
    run "$kind" "$r"
    read -r round k load a b mem cpu <"$out.row"
    p50[$k$r]=$(ms "$a") p99[$k$r]=$(ms "$b")
    printf '%-5s %-9s %6s %8sms %8sms %8s %8sms\n' "$round" "$k" "$load" "${p50[$k$r]}" "${p99[$k$r]}" "$mem" "$cpu"
  done
  awk -v r="$r" -v a="${p50[hub$r]}" -v b="${p50[baseline$r]}" -v c="${p99[hub$r]}" -v d="${p99[baseline$r]}" \
    'BEGIN{printf "round %s: hub / floor  p50 %.2f×  p99 %.2f×\n", r, a/b, c/d}'
done
