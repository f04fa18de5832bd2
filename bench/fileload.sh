#!/usr/bin/env bash
# File-load benchmarks on one stack of the real binaries
# (turnout-api, turnout-worker, PostgreSQL, Redis), so ROWS people are
# imported once:
#
#   1. zipped score, phonesFile, AVEVDataFile and LoadSavedListFile files of
#      ROWS rows (default 1,000,000), each timed from POST /v4/fileLoadingJobs
#      to the job's status Completed (polled every 20 ms by bench/cmd/benchhttp);
#   2. beside them, in the same database: `unzip -p FILE.zip | psql \copy T
#      FROM STDIN CSV HEADER` of the same score and phones files into tables
#      defined like their final tables (indexes included), unzip included in
#      the time; pgloader (Debian package) of the score file into the same
#      kind of table; psql \copy of pre-shaped AV/EV and list rows;
#   3. the worker's peak RSS (VmHWM) on a BIG_ROWS-row score file (default
#      5,000,000: vanids 1..BIG_ROWS against the ROWS imported people, so
#      ROWS match and the rest do not), in a worker started for that file;
#   4. POST /v4/fileLoadingJobs under load (CLIENTS concurrent clients for
#      LOAD_SECONDS, no worker running, so only the API is measured) beside an
#      Echo app answering the same route with a constant, same load generator.
#
# Writes bench/fileload-results.md (the detail) and bench/results/fileload.env
# (the figures bench/run.sh puts in its table).
#
# Needs bin/ built (make build), PostgreSQL and Redis (make services), go,
# psql, zip, unzip, jq, bc, python3 (serves the files on 127.0.0.1) and,
# optionally, pgloader.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
BIG_ROWS=${BIG_ROWS:-5000000}
CLIENTS=${CLIENTS:-16}
LOAD_SECONDS=${LOAD_SECONDS:-10}
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
now() { date +%s.%N; }
since() { printf '%.3f' "$(echo "$(now) - $1" | bc)"; }
ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
waitfor() { for _ in $(seq 100); do curl -fs "$1" >/dev/null && return; sleep 0.1; done; echo "$1 did not answer" >&2; exit 1; }

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
apiport=$(freeport); fileport=$(freeport); echoport=$(freeport)
export TURNOUT_HTTP_ADDR="127.0.0.1:$apiport"
api="http://127.0.0.1:$apiport"; src="http://127.0.0.1:$fileport"
sql() { psql -X -q -v ON_ERROR_STOP=1 "$TURNOUT_DATABASE_URL" "$@"; }
bin/turnout migrate up >/dev/null
go build -o "$work/benchhttp" ./bench/cmd/benchhttp

echo "generating and importing $ROWS people…"
bin/turnout gen people --count "$ROWS" --seed 1 --out "$work/people.csv"
t=$(now); bin/turnout people import --db-mode 0 "$work/people.csv" >/dev/null; people_s=$(since "$t")
# The rate limit is out of the way: the load test below is about throughput.
key=$(bin/turnout keys create --name bench --scopes van --van-app bench --db-mode 0 --auto-approve --rate-limit 100000000 --json)
BENCH_BASIC_AUTH="bench:$(jq -r .secret <<<"$key")|0"; export BENCH_BASIC_AUTH
score=$(bin/turnout scores create --name Bench --min 0 --max 100 --json | jq -r .scoreId)
folder=$(bin/turnout folders create --name Bench --api-writable --key-id "$(jq -r .id <<<"$key")" --json | jq -r .folderId)

echo "generating the files…"
awk -v n="$ROWS" 'BEGIN { print "vanid,score"; for (i = 1; i <= n; i++) printf "%d,%d\n", i, (i * 7919) % 101 }' > "$work/scores.csv"
# Every person gets a distinct number; every third one is preferred.
awk -v n="$ROWS" 'BEGIN { print "VANID,PhoneType,PhoneSource,Phone,PreferredPhone,PhoneExt,PhoneOptInStatus,SonarScore";
  for (i = 1; i <= n; i++) printf "%d,Cell,Bulk,612%07d,%d,,Opt In,4\n", i, 2000000 + i, (i % 3 == 0) }' > "$work/phones.csv"
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "%d,9/1/2024,09/05/2024,2024-10-01,,D,,,,,2,1,4,12 Main St,,,Saint Paul,MN,55101-1234,US,,,,\n", i }' > "$work/avev.csv"
awk -v n="$ROWS" 'BEGIN { print "VANID"; for (i = 1; i <= n; i++) print i }' > "$work/list.csv"
awk -v n="$BIG_ROWS" 'BEGIN { print "vanid,score"; for (i = 1; i <= n; i++) printf "%d,%d\n", i, (i * 7919) % 101 }' > "$work/big.csv"
for f in scores phones avev list big; do (cd "$work" && zip -q "$f.zip" "$f.csv"); done

avev_cols=$(printf '{"name":"%s"},' VANID RequestReceived BallotMailed BallotReceived EarlyVoted BallotParty BallotCancelled \
  ApplicationMailed GOTVVoted DateApplicationReceived BallotReturnStatus BallotType BallotRequestType BallotAddress1 BallotAddress2 \
  BallotAddress3 BallotCity BallotState BallotZip9 BallotCountry BallotReissued BallotRejectionReason BallotApplicationRequested BallotRejected)
score_body() { echo '{"description":"bench","file":{"columnDelimiter":"Csv","fileName":"'$1'.csv","hasHeader":true,"sourceUrl":"'$src/$1'.zip",
 "columns":[{"name":"vanid"},{"name":"score"}]},
 "actions":[{"actionType":"Score","personIdColumn":"vanid","personIdType":"VANID","scoreColumn":"score","scoreId":'$score'}]}'; }
score_body scores > "$work/scores.json"
score_body big > "$work/big.json"
echo '{"description":"bench phones","file":{"columnDelimiter":"Csv","fileName":"phones.csv","hasHeader":true,"sourceUrl":"'$src'/phones.zip",
 "columns":[{"name":"VANID"},{"name":"PhoneType"},{"name":"PhoneSource"},{"name":"Phone"},{"name":"PreferredPhone"},{"name":"PhoneExt"},{"name":"PhoneOptInStatus"},{"name":"SonarScore"}]},
 "actions":[{"actionType":"phonesFile"}]}' > "$work/phones.json"
echo '{"description":"bench avev","file":{"columnDelimiter":"Csv","fileName":"avev.csv","hasHeader":false,"sourceUrl":"'$src'/avev.zip",
 "columns":['${avev_cols%,}']},"actions":[{"actionType":"AVEVDataFile"}]}' > "$work/avev.json"
echo '{"description":"bench list","file":{"columnDelimiter":"Csv","fileName":"list.csv","hasHeader":true,"sourceUrl":"'$src'/list.zip",
 "columns":[{"name":"VANID"}]},"actions":[{"actionType":"LoadSavedListFile","listName":"Bench","personIdColumn":"VANID","personIdType":"VANID","folderId":'$folder'}]}' > "$work/list.json"

(cd "$work" && exec python3 -m http.server "$fileport" --bind 127.0.0.1 >/dev/null 2>&1) & pids+=($!)
bin/turnout-api 2>"$work/api.log" & pids+=($!)
waitfor "$api/healthz"; waitfor "$src/list.zip"
start_worker() { bin/turnout-worker --queues fileload,notify --concurrency 1 2>>"$work/worker.log" & wpid=$!; pids+=($wpid); }
stop_worker() { kill "$wpid"; wait "$wpid" 2>/dev/null || true; }
# job NAME WANT_MATCHED → seconds from the POST to Completed (fails on anything else)
job() {
  local s m
  s=$("$work/benchhttp" job -url "$api/v4/fileLoadingJobs" -body "$work/$1.json" -out "$work/$1-job.json")
  m=$(jq -r '.actions[0].results | .matchedRows // .matchedRowsCount' "$work/$1-job.json")
  [ "$m" = "$2" ] || { echo "$1: the job matched $m rows, want $2" >&2; exit 1; }
  echo "$s"
}

echo "loading over HTTP (POST → Completed)…"
start_worker
echo "  score";             score_s=$(job scores "$ROWS")
echo "  phonesFile";        phones_s=$(job phones "$ROWS")
echo "  AVEVDataFile";      avev_s=$(job avev "$ROWS")
echo "  LoadSavedListFile"; list_s=$(job list "$ROWS")
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")
stop_worker

echo "baselines in the same database…"
# copy SECONDS-VAR TABLE-DDL COPY-TARGET ZIP|CSV: \copy timed, unzip included when given a zip.
copy() {
  sql -c "$2"
  local t; t=$(now)
  case $4 in
  *.zip) unzip -p "$4" | sql -c "\\copy $3 FROM STDIN CSV HEADER" ;;
  *) sql -c "\\copy $3 FROM '$4' CSV" ;;
  esac
  printf -v "$1" '%s' "$(since "$t")"
}
copy score_copy_s "CREATE TABLE bench_scores (LIKE van_score_update_values INCLUDING ALL);
  ALTER TABLE bench_scores ALTER score_update_id SET DEFAULT 1" "bench_scores (vanid, value)" "$work/scores.zip"
copy phones_copy_s "CREATE TABLE bench_phones (LIKE van_phones INCLUDING ALL); ALTER TABLE bench_phones ALTER db_mode SET DEFAULT 0" \
  "bench_phones (vanid, phone_type, phone_source, phone, preferred, ext, opt_in_status, sonar_score)" "$work/phones.zip"
# AV/EV and list rows need reshaping (dates, codes, the list id) that a
# plain \copy cannot do, so these two copy rows already in the final shape.
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "0,%d,2024-09-01,2024-09-05,2024-10-01,D,2,1,4,12 Main St,Saint Paul,MN,55101-1234,US,1\n", i }' > "$work/avev-final.csv"
copy avev_copy_s "CREATE TABLE bench_avev (LIKE van_avev INCLUDING ALL)" \
  "bench_avev (db_mode, vanid, request_received, ballot_mailed, ballot_received, ballot_party, ballot_return_status_id, ballot_type_id, ballot_request_type_id, ballot_address1, ballot_city, ballot_state, ballot_zip9, ballot_country, load_job_id)" "$work/avev-final.csv"
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "1,%d\n", i }' > "$work/list-final.csv"
copy list_copy_s "CREATE TABLE bench_members (LIKE van_saved_list_members INCLUDING ALL)" "bench_members (list_id, vanid)" "$work/list-final.csv"
for t in bench_scores bench_phones bench_avev bench_members; do
  [ "$(sql -At -c "SELECT count(*) FROM $t")" = "$ROWS" ] || { echo "$t: the baseline did not copy $ROWS rows" >&2; exit 1; }
done

# pgloader, the tool a data engineer would otherwise reach for: the same
# zip (unzipped first, in the time) into the same kind of table.
pgl_s=""
if command -v pgloader >/dev/null; then
  echo "pgloader of the score file…"
  sql -c "CREATE TABLE bench_pgl (LIKE bench_scores INCLUDING ALL)"
  mkdir "$work/pgl"
  cat > "$work/pgl.load" <<PGL
LOAD CSV
  FROM '$work/pgl/scores.csv' (vanid, value)
  INTO ${TURNOUT_DATABASE_URL%%\?*}?tablename=bench_pgl (vanid, value)
  WITH skip header = 1, fields terminated by ',', fields not enclosed;
PGL
  t=$(now)
  unzip -q "$work/scores.zip" -d "$work/pgl"
  pgloader --quiet "$work/pgl.load" >"$work/pgloader.log" 2>&1 || { cat "$work/pgloader.log"; exit 1; }
  pgl_s=$(since "$t")
  [ "$(sql -At -c "SELECT count(*) FROM bench_pgl")" = "$ROWS" ] || { cat "$work/pgloader.log"; echo "pgloader did not load $ROWS rows" >&2; exit 1; }
fi

echo "peak RSS of a fresh worker on a $BIG_ROWS-row score file…"
start_worker
big_s=$(job big "$(( ROWS < BIG_ROWS ? ROWS : BIG_ROWS ))")
big_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")
stop_worker

# No worker runs from here: the jobs POSTed below stay queued, and the
# figures are the API's (with PostgreSQL and Redis) alone.
echo "POST /v4/fileLoadingJobs, $CLIENTS clients for ${LOAD_SECONDS}s, then the same against Echo…"
"$work/benchhttp" echo -addr "127.0.0.1:$echoport" & pids+=($!)
loadrun() { "$work/benchhttp" load -url "$1/v4/fileLoadingJobs" -body "$work/scores.json" -clients "$CLIENTS" -duration "${LOAD_SECONDS}s"; }
post=$(loadrun "$api")
posted_jobs=$(sql -At -c "SELECT count(*) FROM jobs")
for _ in $(seq 100); do curl -fs -X POST "http://127.0.0.1:$echoport/v4/fileLoadingJobs" >/dev/null && break; sleep 0.1; done
echo_=$(loadrun "http://127.0.0.1:$echoport")
echo "  Turnout: $post"
echo "  Echo:    $echo_"

ms() { printf '%.1f' "$(jq -r ".$2" <<<"$1")"; }
rps() { printf '%.0f' "$(jq -r .rps <<<"$1")"; }
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p bench/results
cat > bench/results/fileload.env <<ENV
rows=$ROWS
big_rows=$BIG_ROWS
score_s=$score_s
score_copy_s=$score_copy_s
pgl_s=$pgl_s
phones_s=$phones_s
phones_copy_s=$phones_copy_s
big_s=$big_s
big_rss_mb=$((big_rss_kb / 1024))
clients=$CLIENTS
load_seconds=$LOAD_SECONDS
post_rps=$(rps "$post")
post_p50_ms=$(ms "$post" p50_ms)
post_p99_ms=$(ms "$post" p99_ms)
echo_rps=$(rps "$echo_")
echo_p50_ms=$(ms "$echo_" p50_ms)
echo_p99_ms=$(ms "$echo_" p99_ms)
ENV

out=bench/fileload-results.md
row() { echo "| $1 | ${2}s | ${3}s | $(ratio "$2" "$3")× |"; }
{
  echo "# File-load benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo
  echo "$ROWS rows per file, every row valid and matched; one worker (concurrency 1); POST → status"
  echo "Completed, polled every 20 ms. Baselines in the same run and database; for the score and phones"
  echo "files \`unzip -p FILE.zip | psql -c '\\copy T (…) FROM STDIN CSV HEADER'\` of the very zip Turnout"
  echo "loads, into a table defined like the final one (indexes included), unzip in the time; for AV/EV"
  echo "and lists a \`psql \\copy\` of rows already in the final shape."
  echo
  echo "| load | Turnout, POST → Completed | baseline | ratio |"
  echo "| --- | --- | --- | --- |"
  row "Score (van_score_update_values)" "$score_s" "$score_copy_s"
  [ -n "$pgl_s" ] && echo "| Score, pgloader instead (unzip + pgloader into the same kind of table) | ${score_s}s | ${pgl_s}s | $(ratio "$score_s" "$pgl_s")× |"
  row "phonesFile (van_phones)" "$phones_s" "$phones_copy_s"
  row "AVEVDataFile (van_avev, pre-shaped rows)" "$avev_s" "$avev_copy_s"
  row "LoadSavedListFile (van_saved_list_members, pre-shaped rows)" "$list_s" "$list_copy_s"
  echo
  echo "- worker peak RSS (VmHWM) over these four loads: $((rss_kb / 1024)) MB"
  echo "- a fresh worker on a $BIG_ROWS-row score file (vanids 1..$BIG_ROWS against $ROWS imported people:"
  echo "  $(( ROWS < BIG_ROWS ? ROWS : BIG_ROWS )) matched): ${big_s}s, peak RSS (VmHWM) $((big_rss_kb / 1024)) MB"
  echo "- people import (\`turnout people import\`, $ROWS rows, not part of any figure above): ${people_s}s"
  [ -z "$pgl_s" ] && echo "- pgloader: not installed (apt-get install pgloader)"
  echo
  echo "POST /v4/fileLoadingJobs (a valid Score request, the API with PostgreSQL and Redis, no worker"
  echo "running), $CLIENTS concurrent clients for ${LOAD_SECONDS}s after a 2 s warm-up, beside an Echo app"
  echo "answering the same route with a constant, same load generator (bench/cmd/benchhttp):"
  echo
  echo "| server | req/s | p50 | p99 | max |"
  echo "| --- | --- | --- | --- | --- |"
  echo "| turnout-api | $(rps "$post") | $(ms "$post" p50_ms) ms | $(ms "$post" p99_ms) ms | $(ms "$post" max_ms) ms |"
  echo "| Echo, constant | $(rps "$echo_") | $(ms "$echo_" p50_ms) ms | $(ms "$echo_" p99_ms) ms | $(ms "$echo_" max_ms) ms |"
  echo
  echo "$posted_jobs jobs were in the database after the Turnout run; load average when the run ended: $loadavg."
  echo
  echo "Worker phases (from its log):"
  echo
  grep -E '"msg":"(source fetched|rows staged|action applied|job succeeded)"' "$work/worker.log" | jq -r '"- \(.time) \(.msg) \(.rows // .bytes // .duration_ms // "")"' || true
} > "$out"
cat "$out"
