#!/usr/bin/env bash
# Alertcast as a cluster on one host: PostgreSQL, Redis with two replicas and
# three Sentinels, two API nodes, three worker nodes and a scheduler — the
# topology of deploy/SCALING.md, on loopback, for trying it out and for
# the fault tests.
#
#   scripts/cluster.sh up       build, start everything, print how to reach it
#   scripts/cluster.sh down     stop what `up` started (by the PIDs it wrote), keep the data
#   scripts/cluster.sh destroy  down, then delete the cluster directory
#   scripts/cluster.sh status   one line per process
#   scripts/cluster.sh kill NAME      SIGKILL one process (api1, worker2, redis-master, postgres, …)
#   scripts/cluster.sh start NAME     start one stopped process again
#
# CLUSTER_DIR (default /tmp/alertcast-cluster) holds data, logs and pids/NAME.pid;
# CLUSTER_PORT (default 18100) is the first of the ports it uses (CLUSTER_PORT .. +30).
# ALERTD and ALERTCTL may name prebuilt binaries; ALERTD_FLAGS adds flags to every
# alertd; CLUSTER_CONFIG names a YAML file appended to every node's node.yaml
# (e.g. sms: gateways) when the cluster directory is first used. Needs redis-server, redis-sentinel and
# PostgreSQL (Debian packages redis-server, redis-sentinel, postgresql). Everything listens on 127.0.0.1.
# It stops only the processes it started, by the PIDs in CLUSTER_DIR/pids.
set -euo pipefail

DIR=${CLUSTER_DIR:-/tmp/alertcast-cluster}
P=${CLUSTER_PORT:-18100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PIDS=$DIR/pids
LOGS=$DIR/logs

# Ports.
PG_PORT=$((P + 0))
REDIS_PORTS=($((P + 1)) $((P + 2)) $((P + 3))) # master, replica, replica
SENTINEL_PORTS=($((P + 5)) $((P + 6)) $((P + 7)))
API_PORTS=($((P + 10)) $((P + 11)))
WORKER_PORTS=($((P + 20)) $((P + 21)) $((P + 22)))
SCHED_PORT=$((P + 25))
MASTER=alertcast

die() { echo "cluster: $*" >&2; exit 1; }

pg_bin() {
	if command -v initdb >/dev/null; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -n "$d" ] || die "PostgreSQL not found (apt-get install postgresql)"
	echo "$d"
}

alive() { [ -f "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

wait_tcp() { # port seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

wait_ready() { # port seconds: /readyz answers 200
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}

secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

init() {
	mkdir -p "$DIR" "$PIDS" "$LOGS" "$DIR/shared" "$DIR/bin"
	chmod 700 "$DIR/shared"
	[ -f "$DIR/shared/redis.password" ] || (umask 077 && secret >"$DIR/shared/redis.password")
	[ -f "$DIR/shared/pg.password" ] || (umask 077 && secret >"$DIR/shared/pg.password")
	[ -f "$DIR/shared/admin.token" ] || (umask 077 && secret >"$DIR/shared/admin.token")
	# One audit chain, one key (64 hex digits), shared by every node.
	[ -f "$DIR/shared/audit.key" ] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/shared/audit.key")
	if [ -z "${ALERTD:-}" ]; then
		(cd "$ROOT" && go build -o "$DIR/bin/alertd" ./cmd/alertd && go build -o "$DIR/bin/alertctl" ./cmd/alertctl)
	fi
}

ALERTD_BIN() { echo "${ALERTD:-$DIR/bin/alertd}"; }

start_postgres() {
	local bin data
	bin=$(pg_bin)
	data=$DIR/pg/data
	if [ ! -d "$data" ]; then
		mkdir -p "$DIR/pg"
		cp "$DIR/shared/pg.password" "$DIR/pg/pwfile"
		if [ "$(id -u)" = 0 ]; then chown -R postgres: "$DIR/pg"; fi
		as_pg "$bin/initdb" -D "$data" -U postgres --auth=scram-sha-256 --pwfile="$DIR/pg/pwfile" -E UTF8 >"$LOGS/initdb.log" 2>&1 ||
			die "initdb failed: see $LOGS/initdb.log"
		rm -f "$DIR/pg/pwfile"
	fi
	# synchronous_commit stays on: a warning's records survive a crash.
	# After a kill -9 of the postmaster its backends linger for a few
	# seconds, holding the shared memory ("pre-existing shared memory block
	# is still in use"): the new postmaster exits at once; try again.
	local try up=
	for ((try = 0; try < 60; try++)); do
		as_pg "$bin/postgres" -D "$data" -p "$PG_PORT" -h 127.0.0.1 -k "$DIR/pg" -c max_connections=300 \
			>>"$LOGS/postgres.log" 2>&1 &
		echo $! >"$PIDS/postgres.pid"
		local j
		for ((j = 0; j < 300; j++)); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; then up=1; break; fi
			kill -0 "$(cat "$PIDS/postgres.pid")" 2>/dev/null || break
			sleep 0.1
		done
		[ -n "$up" ] && break
		kill -0 "$(cat "$PIDS/postgres.pid")" 2>/dev/null && die "PostgreSQL did not listen within 30 s: see $LOGS/postgres.log"
		sleep 0.5
	done
	[ -n "$up" ] || die "PostgreSQL did not start: see $LOGS/postgres.log"
	# $! is runuser's PID; stop the postmaster itself (first line of postmaster.pid).
	head -1 "$data/postmaster.pid" >"$PIDS/postgres.pid"
	local i
	for ((i = 0; i < 50; i++)); do
		PGPASSWORD=$(cat "$DIR/shared/pg.password") "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
			"SELECT 1 FROM pg_database WHERE datname='alertcast'" 2>/dev/null | grep -q 1 && return 0
		PGPASSWORD=$(cat "$DIR/shared/pg.password") "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc \
			"CREATE DATABASE alertcast" 2>/dev/null && return 0
		sleep 0.2
	done
	die "could not create the alertcast database"
}

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

redis_conf() { # name port [replicaof-port]
	local pw d
	pw=$(cat "$DIR/shared/redis.password")
	d=$DIR/$1
	mkdir -p "$d"
	(
		umask 077
		cat >"$d/redis.conf" <<EOF
port $2
bind 127.0.0.1
dir $d
daemonize no
appendonly yes
appendfsync everysec
save ""
maxmemory-policy noeviction
requirepass "$pw"
masterauth "$pw"
loglevel warning
EOF
		# Sentinel rewrites this file (CONFIG REWRITE) when it promotes or demotes the server.
		[ -n "${3:-}" ] && echo "replicaof 127.0.0.1 $3" >>"$d/redis.conf"
		true
	)
}

start_redis() { # name port [replicaof-port]
	[ -f "$DIR/$1/redis.conf" ] || redis_conf "$@"
	redis-server "$DIR/$1/redis.conf" >>"$LOGS/$1.log" 2>&1 &
	echo $! >"$PIDS/$1.pid"
	wait_tcp "$2" 10 || die "$1 did not start: see $LOGS/$1.log"
}

start_sentinel() { # name port
	local pw d
	pw=$(cat "$DIR/shared/redis.password")
	d=$DIR/$1
	mkdir -p "$d"
	if [ ! -f "$d/sentinel.conf" ]; then
		(
			umask 077
			cat >"$d/sentinel.conf" <<EOF
port $2
bind 127.0.0.1
dir $d
daemonize no
loglevel warning
sentinel monitor $MASTER 127.0.0.1 ${REDIS_PORTS[0]} 2
sentinel auth-pass $MASTER $pw
sentinel down-after-milliseconds $MASTER 1000
sentinel failover-timeout $MASTER 5000
sentinel parallel-syncs $MASTER 1
EOF
		)
	fi
	redis-sentinel "$d/sentinel.conf" >>"$LOGS/$1.log" 2>&1 &
	echo $! >"$PIDS/$1.pid"
	wait_tcp "$2" 10 || die "$1 did not start: see $LOGS/$1.log"
}

redis_url() {
	echo "redis+sentinel://:$(cat "$DIR/shared/redis.password")@127.0.0.1:${SENTINEL_PORTS[0]},127.0.0.1:${SENTINEL_PORTS[1]},127.0.0.1:${SENTINEL_PORTS[2]}/$MASTER/0"
}

db_url() {
	echo "postgres://postgres:$(cat "$DIR/shared/pg.password")@127.0.0.1:$PG_PORT/alertcast?sslmode=disable"
}

# node.yaml is written once, when the first node starts: the speaker key,
# then CLUSTER_CONFIG (a YAML file of further top-level sections — sms
# gateways, policies … — but not speakers:) appended as it is.
write_node_yaml() {
	(
		umask 077
		printf 'speakers:\n  key_file: %s\n' "$DIR/shared/speaker-ed25519.key" >"$DIR/node.yaml.tmp"
		if [ -n "${CLUSTER_CONFIG:-}" ]; then
			[ -r "$CLUSTER_CONFIG" ] || die "CLUSTER_CONFIG $CLUSTER_CONFIG is not a readable file"
			grep -q '^speakers:' "$CLUSTER_CONFIG" && die "CLUSTER_CONFIG $CLUSTER_CONFIG must not have a speakers: section (cluster.sh writes it)"
			cat "$CLUSTER_CONFIG" >>"$DIR/node.yaml.tmp"
		fi
		mv "$DIR/node.yaml.tmp" "$DIR/node.yaml"
	)
}

start_node() { # name roles port
	local d=$DIR/$1 before
	mkdir -p "$d"
	touch "$LOGS/$1.log"
	before=$(grep -c 'msg="alertd running"' "$LOGS/$1.log" || true)
	[ -f "$DIR/node.yaml" ] || write_node_yaml
	# Secrets reach alertd through its environment, never its command line (ps shows that to every user).
	ALERTCAST_REDIS_URL=$(redis_url) ALERTCAST_DB=$(db_url) \
		ALERTCAST_AUDIT_KEY_FILE=$DIR/shared/audit.key ALERTCAST_ADMIN_TOKEN=$(cat "$DIR/shared/admin.token") \
		"$(ALERTD_BIN)" --config "$DIR/node.yaml" --data-dir "$d" --roles "$2" --listen "127.0.0.1:$3" \
		--public-url "http://127.0.0.1:$3" ${ALERTD_FLAGS:-} >>"$LOGS/$1.log" 2>&1 &
	echo $! >"$PIDS/$1.pid"
	if [ "$2" = api ]; then
		wait_ready "$3" 60 || die "$1 did not become ready: see $LOGS/$1.log"
		return
	fi
	# Workers and the scheduler serve no HTTP: wait for their start line.
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(grep -c 'msg="alertd running"' "$LOGS/$1.log")" -gt "$before" ] && return 0
		kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null || break
		sleep 0.1
	done
	die "$1 did not start: see $LOGS/$1.log"
}

# name → how to start it
start_one() {
	case $1 in
	postgres) start_postgres ;;
	redis-master) start_redis redis-master "${REDIS_PORTS[0]}" ;;
	redis-replica1) start_redis redis-replica1 "${REDIS_PORTS[1]}" "${REDIS_PORTS[0]}" ;;
	redis-replica2) start_redis redis-replica2 "${REDIS_PORTS[2]}" "${REDIS_PORTS[0]}" ;;
	sentinel[123]) start_sentinel "$1" "${SENTINEL_PORTS[${1#sentinel} - 1]}" ;;
	api[12]) start_node "$1" api "${API_PORTS[${1#api} - 1]}" ;;
	worker[123]) start_node "$1" worker "${WORKER_PORTS[${1#worker} - 1]}" ;;
	scheduler) start_node scheduler scheduler "$SCHED_PORT" ;;
	*) die "unknown process $1" ;;
	esac
}

ORDER=(postgres redis-master redis-replica1 redis-replica2 sentinel1 sentinel2 sentinel3 api1 api2 worker1 worker2 worker3 scheduler)

up() {
	init
	for n in "${ORDER[@]}"; do
		if alive "$n"; then continue; fi
		start_one "$n"
		echo "started $n (pid $(cat "$PIDS/$n.pid"))"
	done
	cat <<EOF

Alertcast cluster up in $DIR
  API nodes:  http://127.0.0.1:${API_PORTS[0]}  http://127.0.0.1:${API_PORTS[1]}
  admin:      export ALERTCAST_URL=http://127.0.0.1:${API_PORTS[0]} ALERTCAST_TOKEN=\$(cat $DIR/shared/admin.token)
  stop:       $0 down
EOF
}

stop_one() { # name [signal]
	local pid
	[ -f "$PIDS/$1.pid" ] || return 0
	pid=$(cat "$PIDS/$1.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill "-${2:-TERM}" "$pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDS/$1.pid"
}

down() {
	local i
	# Reverse order: intake first, the stores last.
	for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
		# PostgreSQL: SIGINT is its fast shutdown (SIGTERM waits for every session to end).
		if [ "${ORDER[$i]}" = postgres ]; then stop_one postgres INT; else stop_one "${ORDER[$i]}"; fi
	done
}

status() {
	for n in "${ORDER[@]}"; do
		if alive "$n"; then echo "$n up pid $(cat "$PIDS/$n.pid")"; else echo "$n down"; fi
	done
}

case ${1:-} in
up) up ;;
down) down ;;
destroy) down; rm -rf "$DIR" ;;
status) status ;;
kill) [ -n "${2:-}" ] || die "kill NAME"; stop_one "$2" KILL; echo "killed $2" ;;
start) [ -n "${2:-}" ] || die "start NAME"; init; start_one "$2"; echo "started $2 (pid $(cat "$PIDS/$2.pid"))" ;;
env) echo "ALERTCAST_URL=http://127.0.0.1:${API_PORTS[0]}"; echo "ALERTCAST_TOKEN=$(cat "$DIR/shared/admin.token")" ;;
*) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
