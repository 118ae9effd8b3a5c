#!/usr/bin/env bash
# The spine on PostgreSQL (issue 16): issue call → every delivery record of a county-wide warning (355,544
# residents) written and drained through the outbox, with alertd on a throwaway PostgreSQL that is durable
# (fsync and synchronous_commit on, the settings of deploy/postgresql.md) and a managed redis-server.
# Needs /tmp/alertd and /tmp/alertbench (go build -o /tmp/ ./cmd/alertd ./cmd/alertbench), Debian postgresql.
# RUNS (default 3) warnings one after another on the same server (the first imports the residents);
# ACCEPT (default 0) accept-latency samples per run; PPROF=file takes a CPU profile of alertd over the
# first warning (PPROF_SECONDS, default 20). After each run it prints the CPU seconds alertd and PostgreSQL
# used, and at the end the statements PostgreSQL spent most time on (pg_stat_statements).
# Everything listens on 127.0.0.1; it stops only the processes it started, by PID.
set -euo pipefail
ALERTD=${ALERTD:-/tmp/alertd} ALERTBENCH=${ALERTBENCH:-/tmp/alertbench}
DIR=${DIR:-/tmp/bench-spine-pg}
PG_PORT=${PG_PORT:-25491} PORT=${PORT:-18093} PPROF_PORT=${PPROF_PORT:-16093}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "PostgreSQL not found (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_pid= alertd_pid= prof=
stop() {
	[ -n "$alertd_pid" ] && kill "$alertd_pid" 2>/dev/null && wait "$alertd_pid" 2>/dev/null || true
	[ -n "$pg_pid" ] && kill -INT "$pg_pid" 2>/dev/null || true # fast shutdown of the postmaster we started
	for _ in $(seq 50); do [ -n "$pg_pid" ] && kill -0 "$pg_pid" 2>/dev/null && sleep 0.2 || break; done
}
trap stop EXIT

rm -rf "$DIR" && mkdir -p "$DIR/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$DIR/pg"
as_pg "$bin/initdb" -D "$DIR/pg/data" -U postgres -A trust -E UTF8 >"$DIR/initdb.log" 2>&1
as_pg "$bin/postgres" -D "$DIR/pg/data" -p "$PG_PORT" -h 127.0.0.1 -k "$DIR/pg" \
	-c fsync=on -c synchronous_commit=on -c shared_buffers=1GB -c checkpoint_timeout=15min -c max_connections=100 \
	-c shared_preload_libraries=pg_stat_statements >"$DIR/postgres.log" 2>&1 &
for _ in $(seq 100); do [ -s "$DIR/pg/data/postmaster.pid" ] && break; sleep 0.1; done
pg_pid=$(head -1 "$DIR/pg/data/postmaster.pid")
psql() { "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -X -q "$@"; }
for _ in $(seq 100); do psql -d postgres -tAc 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
psql -d postgres -c 'CREATE DATABASE alertcast' -c 'CREATE EXTENSION pg_stat_statements'
psql -d alertcast -c 'CREATE EXTENSION pg_stat_statements'
echo "postgres $("$bin/postgres" --version | awk '{print $3}'): fsync $(psql -d postgres -tAc 'show fsync'), synchronous_commit $(psql -d postgres -tAc 'show synchronous_commit')"

printf 'policy:\n  approval_levels: []\n' >"$DIR/alertd.yaml"
[ -n "${WORKERS:-}" ] && echo "workers: $WORKERS" >>"$DIR/alertd.yaml"
ALERTCAST_PPROF=127.0.0.1:$PPROF_PORT ALERTCAST_ADMIN_TOKEN=admintoken-0123456789 "$ALERTD" --config "$DIR/alertd.yaml" \
	--db "postgres://postgres@127.0.0.1:$PG_PORT/alertcast?sslmode=disable" \
	--data-dir "$DIR/data" --listen 127.0.0.1:$PORT >"$DIR/alertd.out" 2>"$DIR/alertd.err" &
alertd_pid=$!
for _ in $(seq 150); do curl -sf http://127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.2; done
export ALERTCAST_URL=http://127.0.0.1:$PORT ALERTCAST_TOKEN=admintoken-0123456789

# CPU seconds (user + system) of alertd, and of the postmaster and its backends.
tck=$(getconf CLK_TCK)
cpu_of() { awk -v t="$tck" '{s += $14 + $15} END {printf "%.1f", s / t}' "$@" 2>/dev/null || echo 0; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a - b}'; }
plus() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a + b}'; }
# The postmaster's own, its live backends' and the exited backends' it reaped (cutime, cstime).
pg_cpu() {
	plus "$(cpu_of $(for p in $(pgrep -P "$pg_pid"); do echo /proc/$p/stat; done))" \
		"$(awk -v t="$tck" '{printf "%.1f", ($14 + $15 + $16 + $17) / t}' /proc/"$pg_pid"/stat)"
}

for i in $(seq 1 "${RUNS:-3}"); do
	residents=0
	[ "$i" = 1 ] && residents=355544
	if [ "$i" = 1 ] && [ -n "${PPROF:-}" ]; then
		# Starts once the residents are imported (the import takes a few seconds).
		(sleep "${PPROF_DELAY:-12}"; curl -s -o "$PPROF" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=${PPROF_SECONDS:-20}") &
		prof=$!
	fi
	a0=$(cpu_of /proc/$alertd_pid/stat) p0=$(pg_cpu)
	"$ALERTBENCH" spine --residents $residents --accept-samples "${ACCEPT:-0}"
	echo "run $i: CPU alertd $(minus "$(cpu_of /proc/$alertd_pid/stat)" "$a0") s, postgres $(minus "$(pg_cpu)" "$p0") s (import included in run 1); load $(cut -d' ' -f1-3 /proc/loadavg)"
	sleep 3
done
[ -n "$prof" ] && wait "$prof"
echo "top statements by total time (pg_stat_statements):"
psql -d alertcast -c "SELECT calls, round(total_exec_time) AS ms, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
	FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'alertcast') ORDER BY total_exec_time DESC LIMIT 15"
psql -d alertcast -c "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = 'alertcast'"
