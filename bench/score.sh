#!/usr/bin/env bash
# Score loads against a database of PEOPLE people (default 5,000,000; make
# bench-large runs it at 20,000,000): does a load cost what its file costs,
# whatever the size of the database, and stay within the worker's memory?
#
# For each file of FILES rows (default "100000 5000000": VANIDs 1..N, a
# score each, every row matched while N ≤ PEOPLE; N followed by "r", as in
# 1000000r: the same rows in random order), RUNS (default 3)
# interleaved runs, the order swapped from one run to the next:
#   - Turnout: the plain CSV served on 127.0.0.1, POST /v4/fileLoadingJobs →
#     status Completed (bench/cmd/benchhttp, polled every 20 ms), one worker
#     (concurrency 1) started for the file and ready before the first POST;
#   - baseline: `psql \copy T (vanid, value) FROM FILE CSV HEADER` of the
#     same file into a table defined like van_score_update_values.
# Each run starts from empty value tables. Reported: medians and range
# (fastest–slowest) of both, their ratio, the worker's peak RSS (VmHWM)
# over the file's runs, and the load average.
#
# The people are made by SQL (generate_series, indexes built after the
# rows), not imported: 20M people take minutes, not an hour. BENCH_DB names
# a database to keep and reuse across runs (made if missing); without it a
# scratch database is made and dropped.
#
# Writes bench/results/score-PEOPLE.md (or OUT) and the figures in
# bench/results/score-PEOPLE.env. Needs bin/ built (make build),
# PostgreSQL and Redis (make services), go, psql, jq, bc, python3.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
PEOPLE=${PEOPLE:-5000000}
FILES=${FILES:-100000 5000000}
RUNS=${RUNS:-3}
ADMIN=${TURNOUT_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
work=$(mktemp -d)
db=${BENCH_DB:-turnout_score_bench_$$}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "${BENCH_DB:-}" ] && psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${rdb:-}" ] && redis-cli -n 0 DEL "turnout:testenv:db:$rdb" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { printf '%.3f' "$(echo "$(now) - $1" | bc)"; }
waitfor() { for _ in $(seq 100); do curl -fs "$1" >/dev/null && return; sleep 0.1; done; echo "$1 did not answer" >&2; exit 1; }
# median, fastest and slowest of the numbers on stdin
stats() { sort -g | awk '{ v[NR] = $1 } END { printf "%.3f %.3f %.3f\n", v[int((NR + 1) / 2)], v[1], v[NR] }'; }

for n in 15 14 13 12; do
  if [ "$(redis-cli -n 0 SET "turnout:testenv:db:$n" bench NX EX 3600)" = "OK" ]; then rdb=$n; break; fi
done
[ -n "${rdb:-}" ] || { echo "no free redis database" >&2; exit 1; }
redis-cli -n "$rdb" FLUSHDB >/dev/null

export TURNOUT_DATABASE_URL="${ADMIN%/*}/$db?sslmode=disable"
export TURNOUT_REDIS_URL="redis://127.0.0.1:6379/$rdb"
export TURNOUT_BLOB_URL="file://$work/blobs"
export TURNOUT_ALLOW_NETWORKS=127.0.0.0/8
export TURNOUT_LOG_LEVEL=info
sql() { psql -X -q -v ON_ERROR_STOP=1 "$TURNOUT_DATABASE_URL" "$@"; }
if [ -z "$(psql -XAtq "$ADMIN" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
  psql -q "$ADMIN" -c "CREATE DATABASE $db" >/dev/null
fi
bin/turnout migrate up >/dev/null
go build -o "$work/benchhttp" ./bench/cmd/benchhttp

have=$(sql -At -c "SELECT count(*) FROM van_people WHERE db_mode = 0")
if [ "$have" != "$PEOPLE" ]; then
  echo "making $PEOPLE people…"
  t=$(now)
  sql <<SQL
TRUNCATE van_people CASCADE;
ALTER TABLE van_people DROP CONSTRAINT van_people_pkey;
DROP INDEX van_people_dwid, van_people_statefileid;
INSERT INTO van_people (db_mode, vanid, dwid, statefileid, first_name, last_name, state)
  SELECT 0, g, 1000000000 + g, 'SF' || g, 'Person', 'Number ' || g, 'MN' FROM generate_series(1, $PEOPLE) g;
ALTER TABLE van_people ADD PRIMARY KEY (db_mode, vanid);
CREATE UNIQUE INDEX van_people_dwid ON van_people (db_mode, dwid) WHERE dwid IS NOT NULL;
CREATE UNIQUE INDEX van_people_statefileid ON van_people (db_mode, statefileid) WHERE statefileid IS NOT NULL;
VACUUM ANALYZE van_people;
SQL
  echo "  ${PEOPLE} people in $(since "$t")s"
fi

apiport=$(freeport); fileport=$(freeport)
export TURNOUT_HTTP_ADDR="127.0.0.1:$apiport"
api="http://127.0.0.1:$apiport"; src="http://127.0.0.1:$fileport"
key=$(bin/turnout keys create --name "bench$$" --scopes van --van-app "bench$$" --db-mode 0 --rate-limit 100000000 --json)
BENCH_BASIC_AUTH="bench$$:$(jq -r .secret <<<"$key")|0"; export BENCH_BASIC_AUTH
score=$(bin/turnout scores create --name "Bench $$" --min 0 --max 100 --json | jq -r .scoreId)
sql -c "DROP TABLE IF EXISTS bench_scores; CREATE TABLE bench_scores (LIKE van_score_update_values INCLUDING ALL);
  ALTER TABLE bench_scores ALTER score_update_id SET DEFAULT 1"

for n in $FILES; do
  awk -v n="${n%r}" 'BEGIN { print "vanid,score"; for (i = 1; i <= n; i++) printf "%d,%d\n", i, (i * 7919) % 101 }' > "$work/s$n.csv"
  if [ "$n" != "${n%r}" ]; then
    { head -1 "$work/s$n.csv"; tail -n +2 "$work/s$n.csv" | shuf --random-source=<(yes); } > "$work/s$n.shuf" && mv "$work/s$n.shuf" "$work/s$n.csv"
  fi
  echo '{"description":"bench","file":{"columnDelimiter":"Csv","hasHeader":true,"sourceUrl":"'"$src/s$n.csv"'",
   "columns":[{"name":"vanid"},{"name":"score"}]},
   "actions":[{"actionType":"Score","personIdColumn":"vanid","personIdType":"VANID","scoreColumn":"score","scoreId":'"$score"'}]}' > "$work/s$n.json"
done
(cd "$work" && exec python3 -m http.server "$fileport" --bind 127.0.0.1 >/dev/null 2>&1) & pids+=($!)
bin/turnout-api 2>"$work/api.log" & pids+=($!)
waitfor "$api/healthz"; waitfor "$src/s${FILES%% *}.csv"

turnout_run() {
  local s m rows=${1%r}
  s=$("$work/benchhttp" job -url "$api/v4/fileLoadingJobs" -body "$work/s$1.json" -out "$work/job.json")
  m=$(jq -r '.actions[0].results.matchedRows' "$work/job.json")
  [ "$m" = "$(( rows < PEOPLE ? rows : PEOPLE ))" ] || { echo "the job matched $m rows of $rows" >&2; exit 1; }
  sql -c "TRUNCATE van_score_update_values"
  echo "$s"
}
copy_run() {
  local t s
  sql -c "TRUNCATE bench_scores"
  t=$(now)
  sql -c "\\copy bench_scores (vanid, value) FROM '$work/s$1.csv' CSV HEADER"
  s=$(since "$t")
  [ "$(sql -At -c "SELECT count(*) FROM bench_scores")" = "${1%r}" ] || { echo "psql copied the wrong number of rows" >&2; exit 1; }
  echo "$s"
}

out=${OUT:-bench/results/score-$PEOPLE.md}
env=bench/results/score-$PEOPLE.env
mkdir -p bench/results
{
  echo "### $PEOPLE people ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start)"
  echo
  echo "| file | Turnout, POST → Completed: median (min–max) | psql \\copy: median (min–max) | ratio of medians | worker peak RSS | load average after |"
  echo "| --- | --- | --- | --- | --- | --- |"
} > "$out"
echo "people=$PEOPLE" > "$env"
for n in $FILES; do
  echo "$n-row file against $PEOPLE people…"
  : > "$work/worker.log"
  bin/turnout-worker --queues fileload,notify --concurrency 1 2>>"$work/worker.log" & wpid=$!
  for _ in $(seq 200); do grep -q '"worker started"' "$work/worker.log" && break; sleep 0.05; done
  tt=(); ct=()
  for r in $(seq "$RUNS"); do
    if (( r % 2 )); then tt+=("$(turnout_run "$n")"); ct+=("$(copy_run "$n")")
    else ct+=("$(copy_run "$n")"); tt+=("$(turnout_run "$n")"); fi
    echo "  run $r: Turnout ${tt[-1]}s, psql ${ct[-1]}s (load $(cut -d' ' -f1 /proc/loadavg))"
  done
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")
  kill "$wpid"; wait "$wpid" 2>/dev/null || true
  read -r tm tlo thi < <(printf '%s\n' "${tt[@]}" | stats)
  read -r cm clo chi < <(printf '%s\n' "${ct[@]}" | stats)
  grep -o '"msg":"rows matched"[^}]*' "$work/worker.log" | tail -1 | sed 's/^/  /'
  order="in VANID order"; [ "$n" != "${n%r}" ] && order="in random order"
  # The figures bench/run.sh puts in its table, by file (s100000, s5000000r…).
  printf 's%s_t=%s\ns%s_t_range=%s–%s\ns%s_c=%s\ns%s_c_range=%s–%s\ns%s_rss_mb=%s\n' "$n" "$tm" "$n" "$tlo" "$thi" \
    "$n" "$cm" "$n" "$clo" "$chi" "$n" "$((rss_kb / 1024))" >> "$env"
  echo "| ${n%r} rows $order, $(( ${n%r} < PEOPLE ? ${n%r} : PEOPLE )) matched | ${tm} s (${tlo}–${thi}) | ${cm} s (${clo}–${chi}) | $(printf '%.2f' "$(echo "scale=4; $tm / $cm" | bc)")× | $((rss_kb / 1024)) MB | $(cut -d' ' -f1-3 /proc/loadavg) |" >> "$out"
done
cat "$out"
