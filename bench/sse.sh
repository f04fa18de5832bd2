#!/usr/bin/env bash
# Job event streams: what STREAMS (default 1000) open, idle
# GET /service/jobs/{id}/events streams cost turnout-api, per stream (RSS,
# Go heap, goroutines, CPU a minute beside the same API with none open, each
# over HOLD, default 60s), how soon one statement changing all their jobs
# reaches every stream, and whether closing them frees everything
# (bench/cmd/benchsse). No worker runs, so the jobs stay queued and the
# streams idle but for the heartbeat (TURNOUT_EVENTS_HEARTBEAT, 15 s).
#
# Prints Go benchmark lines and keeps them in bench/results/sse.txt. Needs
# bin/ built (make build), PostgreSQL and Redis (make services), go, jq.
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS=${STREAMS:-1000}
HOLD=${HOLD:-60s}
ADMIN=${TURNOUT_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
work=$(mktemp -d)
db="turnout_bench_sse_$$"
api_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
  psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${rdb:-}" ] && redis-cli -n 0 DEL "turnout:testenv:db:$rdb" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A Redis logical database nobody else uses (the test environment's lock keys).
for n in 15 14 13 12; do
  if [ "$(redis-cli -n 0 SET "turnout:testenv:db:$n" bench NX EX 1800)" = "OK" ]; then rdb=$n; break; fi
done
[ -n "${rdb:-}" ] || { echo "no free redis database" >&2; exit 1; }
redis-cli -n "$rdb" FLUSHDB >/dev/null

psql -q "$ADMIN" -c "CREATE DATABASE $db" >/dev/null
export TURNOUT_DATABASE_URL="${ADMIN%/*}/$db?sslmode=disable"
export TURNOUT_REDIS_URL="redis://127.0.0.1:6379/$rdb"
export TURNOUT_BLOB_URL="file://$work/blobs"
export TURNOUT_LOG_LEVEL=warn
export TURNOUT_HTTP_ADDR="127.0.0.1:$(freeport)"
bin/turnout migrate up >/dev/null
go build -o "$work/benchsse" ./bench/cmd/benchsse
key=$(bin/turnout keys create --name bench --scopes admin --rate-limit 100000000 --batch-size 50 --json)
BENCH_API_KEY=$(jq -r .secret <<<"$key"); export BENCH_API_KEY

# Each stream is a socket on both sides.
ulimit -n "$((STREAMS * 2 + 1024))"
bin/turnout-api &
api_pid=$!
for _ in $(seq 100); do curl -fs "http://$TURNOUT_HTTP_ADDR/readyz" >/dev/null && break; sleep 0.1; done

mkdir -p bench/results
"$work/benchsse" -url "http://$TURNOUT_HTTP_ADDR" -database "$TURNOUT_DATABASE_URL" -streams "$STREAMS" -hold "$HOLD" |
  tee bench/results/sse.txt
# The listening connection outlives the last stream by its linger (10 s).
listeners() { psql -XtAq "$TURNOUT_DATABASE_URL" -c "SELECT count(*) FROM pg_stat_activity
  WHERE application_name = 'turnout-job-changes' AND datname = current_database()"; }
echo "listening connections with streams just closed: $(listeners)"
for _ in $(seq 300); do [ "$(listeners)" = 0 ] && break; sleep 0.1; done
echo "listening connections 30 s at most later: $(listeners)"
