#!/usr/bin/env bash
# Benchmark of issue 3: a zipped score file of ROWS rows (default 1,000,000)
# loaded end to end over HTTP by the real binaries (POST /v4/fileLoadingJobs
# → job Completed), beside `psql \copy` of the same rows into the staging
# table the pipeline COPYs into, in the same run and database. Reports both
# times and the worker's peak RSS (VmHWM) in bench/fileload-results.md.
#
# Needs bin/ built (make build), PostgreSQL and Redis (make services),
# psql, zip, curl, jq, python3 (to serve the file on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
ADMIN=${TURNOUT_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
work=$(mktemp -d)
db="turnout_bench_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${rdb:-}" ] && redis-cli -n 0 DEL "turnout:testenv:db:$rdb" >/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
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
export TURNOUT_ALLOW_NETWORKS=127.0.0.0/8
export TURNOUT_LOG_LEVEL=info
apiport=$(freeport); fileport=$(freeport)
export TURNOUT_HTTP_ADDR="127.0.0.1:$apiport"
bin/turnout migrate up >/dev/null

echo "generating $ROWS people and a zipped score file…"
bin/turnout gen people --count "$ROWS" --seed 1 --out "$work/people.csv"
t=$(date +%s.%N); bin/turnout people import --db-mode 0 "$work/people.csv" >/dev/null
people_s=$(echo "$(date +%s.%N) - $t" | bc)
key=$(bin/turnout keys create --name bench --scopes van --van-app bench --db-mode 0 --auto-approve --json)
secret=$(jq -r .secret <<<"$key")
score=$(bin/turnout scores create --name Bench --min 0 --max 100 --json | jq -r .scoreId)
awk -v n="$ROWS" 'BEGIN { print "vanid,score"; for (i = 1; i <= n; i++) printf "%d,%d\n", i, (i * 7919) % 101 }' > "$work/scores.csv"
(cd "$work" && zip -q scores.zip scores.csv)
zip_bytes=$(stat -c %s "$work/scores.zip")

(cd "$work" && exec python3 -m http.server "$fileport" --bind 127.0.0.1 >/dev/null 2>&1) & pids+=($!)
bin/turnout-api 2>"$work/api.log" & pids+=($!)
bin/turnout-worker --queues fileload,notify --concurrency 2 2>"$work/worker.log" & wpid=$!; pids+=($wpid)
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$apiport/healthz" >/dev/null && curl -fsI "http://127.0.0.1:$fileport/scores.zip" >/dev/null && break
  sleep 0.1
done

body=$(cat <<JSON
{"description": "bench", "file": {"columnDelimiter": "Csv", "columns": [{"name": "vanid"}, {"name": "score"}],
 "fileName": "scores.csv", "hasHeader": true, "sourceUrl": "http://127.0.0.1:$fileport/scores.zip"},
 "actions": [{"actionType": "Score", "personIdColumn": "vanid", "personIdType": "VANID", "scoreColumn": "score", "scoreId": $score}]}
JSON
)
echo "loading over HTTP…"
t0=$(date +%s.%N)
job=$(curl -fsS -u "bench:$secret|0" -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$apiport/v4/fileLoadingJobs" | jq -r .jobId)
while :; do
  st=$(curl -fsS -u "bench:$secret|0" "http://127.0.0.1:$apiport/v4/fileLoadingJobs/$job")
  status=$(jq -r .status <<<"$st")
  [ "$status" = Completed ] || [ "$status" = Error ] && break
  sleep 0.2
done
load_s=$(echo "$(date +%s.%N) - $t0" | bc)
echo "$st" > "$work/job.json"
[ "$status" = Completed ] || { echo "job failed: $(jq -r .message <<<"$st")" >&2; exit 1; }
matched=$(jq -r '.actions[0].results.matchedRows' <<<"$st")
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")

echo "psql \\copy of the same rows into a table shaped like the pipeline's staging table…"
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "0,%d,%d,%d\n", i + 1, i, (i * 7919) % 101 }' > "$work/stage.csv"
psql -q "$TURNOUT_DATABASE_URL" -c "CREATE TABLE bench_copy (action_index integer NOT NULL, line bigint NOT NULL, person_id text NOT NULL, value text)"
t=$(date +%s.%N)
psql -q "$TURNOUT_DATABASE_URL" -c "\\copy bench_copy (action_index, line, person_id, value) FROM '$work/stage.csv' CSV"
copy_s=$(echo "$(date +%s.%N) - $t" | bc)
# …and into the table the score values end in (same definition, its
# index included).
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "1,%d,%d\n", i, (i * 7919) % 101 }' > "$work/final.csv"
psql -q "$TURNOUT_DATABASE_URL" -c "CREATE TABLE bench_final (LIKE van_score_update_values INCLUDING ALL)"
t=$(date +%s.%N)
psql -q "$TURNOUT_DATABASE_URL" -c "\\copy bench_final FROM '$work/final.csv' CSV"
final_s=$(echo "$(date +%s.%N) - $t" | bc)

# …and with pgloader (Debian package), the tool a data engineer would
# otherwise reach for, into the staging-shaped table.
pgl_s=""
if command -v pgloader >/dev/null; then
  echo "pgloader of the same rows…"
  psql -q "$TURNOUT_DATABASE_URL" -c "CREATE TABLE bench_pgl (LIKE bench_copy)"
  cat > "$work/pgl.load" <<PGL
LOAD CSV
  FROM '$work/stage.csv' (action_index, line, person_id, value)
  INTO ${TURNOUT_DATABASE_URL%%\?*}?tablename=bench_pgl (action_index, line, person_id, value)
  WITH fields terminated by ',', fields not enclosed;
PGL
  t=$(date +%s.%N)
  pgloader --quiet "$work/pgl.load" >"$work/pgloader.log" 2>&1 || { cat "$work/pgloader.log"; exit 1; }
  pgl_s=$(echo "$(date +%s.%N) - $t" | bc)
fi

ratio=$(echo "scale=2; $load_s / $copy_s" | bc)
ratio_final=$(echo "scale=2; $load_s / $final_s" | bc)
out=bench/fileload-results.md
{
  echo "# File-load benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo
  echo "| measure | value |"
  echo "| --- | --- |"
  echo "| rows | $ROWS (zip $zip_bytes bytes) |"
  echo "| matched rows | $matched |"
  echo "| end to end over HTTP (POST → Completed; fetch, unzip, parse, validate, COPY, apply) | ${load_s}s |"
  echo "| psql \\copy of the same rows into a table shaped like the staging table | ${copy_s}s |"
  echo "| psql \\copy of the same rows into a table defined like van_score_update_values (with its index) | ${final_s}s |"
  echo "| ratio to the staging-shaped copy / to the final-table copy | ${ratio}× / ${ratio_final}× |"
  if [ -n "$pgl_s" ]; then
    echo "| pgloader of the same rows into the staging-shaped table | ${pgl_s}s (Turnout: $(echo "scale=2; $load_s / $pgl_s" | bc)×) |"
  else
    echo "| pgloader | not installed (apt-get install pgloader) |"
  fi
  echo "| load average when the run ended | $(cut -d' ' -f1-3 /proc/loadavg) |"
  echo "| worker peak RSS (VmHWM) | $((rss_kb / 1024)) MB |"
  echo "| people import (turnout people import, $ROWS rows) | ${people_s}s |"
  echo
  echo "Worker phases (from its log):"
  echo
  grep -E '"msg":"(source fetched|rows staged|action applied|job succeeded)"' "$work/worker.log" | jq -r '"- \(.time) \(.msg) \(.rows // .bytes // .duration_ms // "")"' || true
} > "$out"
cat "$out"
