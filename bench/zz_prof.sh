#!/usr/bin/env bash
# API throughput against an earlier build of itself: POST /service/jobs and
# POST /v4/fileLoadingJobs, CLIENTS closed-loop clients for LOAD_SECONDS
# each, no worker running (only the API is measured). The API built from
# BASE (a git revision, default the one before the in-process key cache and
# the one-round-trip admission) and the API of this checkout take turns on
# the same database and Redis: ROUNDS rounds, the order swapped every round,
# and the median and range of each are reported with their ratio.
#
# Writes bench/results-api.md. Needs go, psql, redis-cli, jq, curl, python3.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
BASE=HEAD
CLIENTS=${CLIENTS:-16}
LOAD_SECONDS=${LOAD_SECONDS:-10}
ROUNDS=${ROUNDS:-3}
ADMIN=${TURNOUT_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
work=$(mktemp -d)
db="turnout_bench_api_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  git worktree remove --force "$work/base" 2>/dev/null || true
  psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${rdb:-}" ] && redis-cli -n 0 DEL "turnout:testenv:db:$rdb" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitfor() { for _ in $(seq 200); do curl -fs "$1" >/dev/null && return; sleep 0.1; done; echo "$1 did not answer" >&2; exit 1; }

for n in 15 14 13 12; do
  if [ "$(redis-cli -n 0 SET "turnout:testenv:db:$n" bench NX EX 1800)" = "OK" ]; then rdb=$n; break; fi
done
[ -n "${rdb:-}" ] || { echo "no free redis database" >&2; exit 1; }
redis-cli -n "$rdb" FLUSHDB >/dev/null
psql -q "$ADMIN" -c "CREATE DATABASE $db" >/dev/null

echo "building this checkout and $BASE…"
go build -o "$work/new" ./cmd/turnout-api
go build -o "$work/turnout" ./cmd/turnout
go build -o "$work/benchhttp" ./bench/cmd/benchhttp



export TURNOUT_DATABASE_URL="${ADMIN%/*}/$db?sslmode=disable"
export TURNOUT_REDIS_URL="redis://127.0.0.1:6379/$rdb"
export TURNOUT_BLOB_URL="file://$work/blobs"
export TURNOUT_LOG_LEVEL=warn
"$work/turnout" migrate up >/dev/null
# The rate limit is out of the way: this is about throughput.
admin=$("$work/turnout" keys create --name bench-admin --scopes admin --rate-limit 100000000 --json | jq -r .secret)
van=$("$work/turnout" keys create --name bench-van --scopes van --van-app bench --db-mode 0 --rate-limit 100000000 --json | jq -r .secret)
score=$("$work/turnout" scores create --name Bench --min 0 --max 100 --json | jq -r .scoreId)
echo '{}' > "$work/noop.json"
echo '{"description":"bench","file":{"columnDelimiter":"Csv","fileName":"s.csv","hasHeader":true,"sourceUrl":"https://files.example.org/s.zip",
 "columns":[{"name":"vanid"},{"name":"score"}]},
 "actions":[{"actionType":"Score","personIdColumn":"vanid","personIdType":"VANID","scoreColumn":"score","scoreId":'$score'}]}' > "$work/van.json"

port=$(freeport)
TURNOUT_HTTP_ADDR="127.0.0.1:$port" "$work/new" 2>>"$work/new.log" & pid=$!
pids+=($pid)
waitfor "http://127.0.0.1:$port/healthz"
(sleep 3; perf record -F 999 -g -p $pid -o /tmp/prof/perf.data -- sleep 6 >/dev/null 2>&1) &
BENCH_BASIC_AUTH="bench:$van|0" "$work/benchhttp" load -url "http://127.0.0.1:$port/v4/fileLoadingJobs" -body "$work/van.json" -status 201 -clients 16 -duration 10s
wait
