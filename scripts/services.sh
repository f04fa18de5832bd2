#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:$PGPORT, trust auth, user postgres) and
# Redis (127.0.0.1:$REDIS_PORT) answer, for `make test`, `make demo` and CI.
#
#   scripts/services.sh [start]   ensure both are up (idempotent)
#   scripts/services.sh stop      stop only what this script started in $TURNOUT_VAR_DIR
#
# Per service: already answering -> nothing to do. Otherwise start the
# machine's own service if it has one on that port; failing that, install the
# Debian package if needed and run the server in a project data directory
# ($TURNOUT_VAR_DIR/pg, $TURNOUT_VAR_DIR/redis).
#
# Environment: PGPORT (5432), REDIS_PORT (6379), TURNOUT_VAR_DIR (./var of the repo).
set -euo pipefail

PGPORT=${PGPORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
WAIT_SECONDS=30

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR_DIR=${TURNOUT_VAR_DIR:-$ROOT_DIR/var}
mkdir -p "$VAR_DIR"
VAR_DIR=$(cd "$VAR_DIR" && pwd) # absolute: servers and other users cd elsewhere
PG_DIR=$VAR_DIR/pg
REDIS_DIR=$VAR_DIR/redis

if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi

die() { echo "services.sh: $*" >&2; exit 1; }
log() { echo "$*"; }

tcp_open() { # host port
	timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

pg_ready() {
	if command -v pg_isready >/dev/null; then
		pg_isready -q -h 127.0.0.1 -p "$PGPORT" -t 2
	else
		tcp_open 127.0.0.1 "$PGPORT"
	fi
}

redis_ready() {
	if command -v redis-cli >/dev/null; then
		[[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
	else
		tcp_open 127.0.0.1 "$REDIS_PORT"
	fi
}

wait_for() { # check-function [seconds]
	local i
	for ((i = 0; i < ${2:-$WAIT_SECONDS} * 2; i++)); do
		"$1" && return 0
		sleep 0.5
	done
	return 1
}

APT_UPDATED=
apt_install() { # packages...
	command -v apt-get >/dev/null || die "cannot install $* : no apt-get (not Debian?)"
	local aptlog=$VAR_DIR/apt.log
	if [[ -z $APT_UPDATED ]]; then
		"${SUDO[@]}" apt-get update -q >>"$aptlog" 2>&1 ||
			{ tail -n 20 "$aptlog" >&2; die "apt-get update failed, see $aptlog"; }
		APT_UPDATED=1
	fi
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$aptlog" 2>&1 ||
		{ tail -n 20 "$aptlog" >&2; die "apt-get install $* failed, see $aptlog"; }
}

# Run a command as the postgres OS user when we are root (postgres refuses
# to run as root), from / so it never trips over an unreadable cwd.
as_pg_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

pg_bindir() {
	local d
	d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	[[ -n $d && -x $d/initdb && -x $d/pg_ctl ]] && echo "$d"
}

# Trust auth for user postgres over TCP, which tests and the demo rely on.
pg_trusts() {
	command -v psql >/dev/null || return 0
	psql -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -w -Atqc 'select 1' >/dev/null 2>&1
}

pg_check_trust() {
	pg_trusts || die "postgres: 127.0.0.1:$PGPORT answers but user postgres cannot log in without a password (trust auth needed)"
}

# The machine's own cluster configured for $PGPORT and started at boot
# (start.conf "auto"), as "VERSION CLUSTER".
pg_machine_cluster() {
	command -v pg_lsclusters >/dev/null || return 1
	local ver name port _
	while read -r ver name port _; do
		[[ $port == "$PGPORT" ]] || continue
		grep -qs '^[[:space:]]*auto' "/etc/postgresql/$ver/$name/start.conf" || continue
		echo "$ver $name"
		return 0
	done < <(pg_lsclusters -h 2>/dev/null)
	return 1
}

pg_start_machine() {
	local c
	c=$(pg_machine_cluster) || return 1
	# shellcheck disable=SC2086 # "VERSION CLUSTER" splits on purpose
	"${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect $c start >&2 || return 1
	wait_for pg_ready
}

pg_start_project() {
	local bin
	bin=$(pg_bindir) || return 1
	if [[ ! -f $PG_DIR/PG_VERSION ]]; then
		mkdir -p "$PG_DIR"
		chmod 700 "$PG_DIR"
		if [[ $(id -u) -eq 0 ]]; then
			id postgres >/dev/null 2>&1 || die "no 'postgres' OS user to run PostgreSQL as"
			chown postgres:postgres "$PG_DIR"
			runuser -u postgres -- test -x "$VAR_DIR" ||
				die "user postgres cannot reach $VAR_DIR; set TURNOUT_VAR_DIR to a world-traversable path"
		fi
		as_pg_owner "$bin/initdb" -D "$PG_DIR" --auth=trust -U postgres -E UTF8 >"$VAR_DIR/initdb.log" 2>&1 ||
			die "postgres: initdb failed, see $VAR_DIR/initdb.log"
	fi
	as_pg_owner "$bin/pg_ctl" -D "$PG_DIR" -l "$PG_DIR/postgres.log" -w -t "$WAIT_SECONDS" \
		-o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null || return 1
	wait_for pg_ready
}

# Installing Debian's postgresql creates a cluster (and starts it where
# services start) on the first free port. It wants passwords over TCP, so
# park it: stop it and keep it from starting at boot; the project's own data
# directory (trust auth) is used instead.
pg_park_package_cluster() {
	local c
	c=$(pg_machine_cluster) || return 0
	# shellcheck disable=SC2086 # "VERSION CLUSTER" splits on purpose
	"${SUDO[@]}" pg_ctlcluster $c stop >/dev/null 2>&1 || true
	echo manual | "${SUDO[@]}" tee "/etc/postgresql/${c// //}/start.conf" >/dev/null
}

ensure_postgres() {
	if pg_ready; then
		pg_check_trust
		log "postgres: already running (127.0.0.1:$PGPORT)"
		return
	fi
	# Once this script has made a project data dir, keep using it.
	if [[ -f $PG_DIR/PG_VERSION ]] && pg_start_project; then
		pg_check_trust
		log "postgres: started ($PG_DIR, 127.0.0.1:$PGPORT)"
		return
	fi
	if pg_start_machine; then
		pg_check_trust
		log "postgres: started (machine cluster, 127.0.0.1:$PGPORT)"
		return
	fi
	local how=started
	if ! pg_bindir >/dev/null; then
		apt_install postgresql
		pg_park_package_cluster
		how="installed and started"
	fi
	pg_start_project || die "postgres: could not start on 127.0.0.1:$PGPORT, see $PG_DIR/postgres.log"
	pg_check_trust
	log "postgres: $how ($PG_DIR, 127.0.0.1:$PGPORT)"
}

redis_start_machine() {
	# The machine's service: Debian's redis-server, run on 6379 by this command.
	[[ $REDIS_PORT == 6379 && -d /var/lib/redis ]] || return 1
	command -v redis-server >/dev/null || return 1
	"${SUDO[@]}" redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log >&2 || return 1
	wait_for redis_ready
}

redis_start_project() {
	command -v redis-server >/dev/null || return 1
	mkdir -p "$REDIS_DIR"
	redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
		--dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" >&2 || return 1
	wait_for redis_ready
}

ensure_redis() {
	if redis_ready; then
		log "redis: already running (127.0.0.1:$REDIS_PORT)"
		return
	fi
	if redis_start_machine; then
		log "redis: started (machine service, 127.0.0.1:$REDIS_PORT)"
		return
	fi
	local how=started
	if ! command -v redis-server >/dev/null; then
		apt_install redis-server
		how="installed and started"
		if wait_for redis_ready 5; then # where services start, the package started it
			log "redis: $how (machine service, 127.0.0.1:$REDIS_PORT)"
			return
		fi
	fi
	redis_start_project || die "redis: could not start on 127.0.0.1:$REDIS_PORT, see $REDIS_DIR/redis.log"
	log "redis: $how ($REDIS_DIR, 127.0.0.1:$REDIS_PORT)"
}

stop_postgres() {
	if [[ ! -f $PG_DIR/postmaster.pid ]]; then
		log "postgres: not running from $PG_DIR"
		return
	fi
	local bin
	bin=/usr/lib/postgresql/$(cat "$PG_DIR/PG_VERSION")/bin
	if ! as_pg_owner "$bin/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1; then
		log "postgres: not running from $PG_DIR (stale pid file)"
		return
	fi
	as_pg_owner "$bin/pg_ctl" -D "$PG_DIR" -m fast -w -t "$WAIT_SECONDS" stop >/dev/null ||
		die "postgres: pg_ctl stop failed for $PG_DIR"
	log "postgres: stopped ($PG_DIR)"
}

stop_redis() {
	local pidfile=$REDIS_DIR/redis.pid pid i
	if [[ ! -f $pidfile ]]; then
		log "redis: not running from $REDIS_DIR"
		return
	fi
	pid=$(cat "$pidfile")
	if [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]]; then
		kill "$pid"
		for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -0 "$pid" 2>/dev/null && die "redis: pid $pid did not exit"
		log "redis: stopped ($REDIS_DIR)"
	else
		log "redis: stale pid file removed ($REDIS_DIR)"
	fi
	rm -f "$pidfile"
}

case ${1:-start} in
start)
	ensure_postgres
	ensure_redis
	;;
stop)
	stop_postgres
	stop_redis
	;;
*)
	die "usage: $0 [start|stop]"
	;;
esac
