#!/usr/bin/env bash
# Benchmark of issue 4: for each of phonesFile, AVEVDataFile and
# LoadSavedListFile, a zipped file of ROWS rows (default 1,000,000) loaded
# end to end over HTTP by the real binaries (POST /v4/fileLoadingJobs → job
# Completed), beside `psql \copy` of the same rows into a table defined like
# the action's final table (indexes included), in the same run and database.
# Results go to bench/actions-results.md.
#
# Needs bin/ built (make build), PostgreSQL and Redis (make services),
# psql, zip, curl, jq, bc, python3 (to serve the files on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
ADMIN=${TURNOUT_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
work=$(mktemp -d)
db="turnout_bench_actions_$$"
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
since() { echo "$(date +%s.%N) - $1" | bc; }

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

echo "generating $ROWS people and the three files…"
bin/turnout gen people --count "$ROWS" --seed 1 --out "$work/people.csv"
bin/turnout people import --db-mode 0 "$work/people.csv" >/dev/null
key=$(bin/turnout keys create --name bench --scopes van --van-app bench --db-mode 0 --json)
secret=$(jq -r .secret <<<"$key"); keyid=$(jq -r .id <<<"$key")
folder=$(bin/turnout folders create --name Bench --api-writable --key-id "$keyid" --json | jq -r .folderId)

# Every person gets a distinct number; every third one is preferred.
awk -v n="$ROWS" 'BEGIN { print "VANID,PhoneType,PhoneSource,Phone,PreferredPhone,PhoneExt,PhoneOptInStatus,SonarScore";
  for (i = 1; i <= n; i++) printf "%d,Cell,Bulk,612%07d,%d,,Opt In,4\n", i, 2000000 + i, (i % 3 == 0) }' > "$work/phones.csv"
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "%d,9/1/2024,09/05/2024,2024-10-01,,D,,,,,2,1,4,12 Main St,,,Saint Paul,MN,55101-1234,US,,,,\n", i }' > "$work/avev.csv"
awk -v n="$ROWS" 'BEGIN { print "VANID"; for (i = 1; i <= n; i++) print i }' > "$work/list.csv"
for f in phones avev list; do (cd "$work" && zip -q "$f.zip" "$f.csv"); done

(cd "$work" && exec python3 -m http.server "$fileport" --bind 127.0.0.1 >/dev/null 2>&1) & pids+=($!)
bin/turnout-api 2>"$work/api.log" & pids+=($!)
bin/turnout-worker --queues fileload,notify --concurrency 1 2>"$work/worker.log" & wpid=$!; pids+=($wpid)
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$apiport/healthz" >/dev/null && curl -fsI "http://127.0.0.1:$fileport/list.zip" >/dev/null && break
  sleep 0.1
done

src="http://127.0.0.1:$fileport"
avev_cols=$(printf '{"name":"%s"},' VANID RequestReceived BallotMailed BallotReceived EarlyVoted BallotParty BallotCancelled \
  ApplicationMailed GOTVVoted DateApplicationReceived BallotReturnStatus BallotType BallotRequestType BallotAddress1 BallotAddress2 \
  BallotAddress3 BallotCity BallotState BallotZip9 BallotCountry BallotReissued BallotRejectionReason BallotApplicationRequested BallotRejected)
phones_body='{"description":"bench phones","file":{"columnDelimiter":"Csv","fileName":"phones.csv","hasHeader":true,"sourceUrl":"'$src'/phones.zip",
 "columns":[{"name":"VANID"},{"name":"PhoneType"},{"name":"PhoneSource"},{"name":"Phone"},{"name":"PreferredPhone"},{"name":"PhoneExt"},{"name":"PhoneOptInStatus"},{"name":"SonarScore"}]},
 "actions":[{"actionType":"phonesFile"}]}'
avev_body='{"description":"bench avev","file":{"columnDelimiter":"Csv","fileName":"avev.csv","hasHeader":false,"sourceUrl":"'$src'/avev.zip",
 "columns":['${avev_cols%,}']},"actions":[{"actionType":"AVEVDataFile"}]}'
list_body='{"description":"bench list","file":{"columnDelimiter":"Csv","fileName":"list.csv","hasHeader":true,"sourceUrl":"'$src'/list.zip",
 "columns":[{"name":"VANID"}]},"actions":[{"actionType":"LoadSavedListFile","listName":"Bench","personIdColumn":"VANID","personIdType":"VANID","folderId":'$folder'}]}'

load() { # body → seconds; fails on a job that does not complete
  local t0 job st status
  t0=$(date +%s.%N)
  job=$(curl -fsS -u "bench:$secret|0" -H 'Content-Type: application/json' -d "$1" "http://127.0.0.1:$apiport/v4/fileLoadingJobs" | jq -r .jobId)
  while :; do
    st=$(curl -fsS -u "bench:$secret|0" "http://127.0.0.1:$apiport/v4/fileLoadingJobs/$job")
    status=$(jq -r .status <<<"$st")
    [ "$status" = Completed ] || [ "$status" = Error ] && break
    sleep 0.2
  done
  [ "$status" = Completed ] || { echo "job failed: $(jq -r .message <<<"$st")" >&2; exit 1; }
  [ "$(jq -r '.actions[0].results.matchedRows' <<<"$st")" = "$ROWS" ] || { echo "job matched $(jq -r '.actions[0].results.matchedRows' <<<"$st") rows, want $ROWS" >&2; exit 1; }
  since "$t0"
}
copy() { # table definition, column list, csv → seconds
  psql -q "$TURNOUT_DATABASE_URL" -c "$1"
  local t0; t0=$(date +%s.%N)
  psql -q "$TURNOUT_DATABASE_URL" -c "\\copy $2 FROM '$3' CSV"
  since "$t0"
}

echo "phonesFile…"; phones_s=$(load "$phones_body")
echo "AVEVDataFile…"; avev_s=$(load "$avev_body")
echo "LoadSavedListFile…"; list_s=$(load "$list_body")
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")

echo "psql \\copy of the same rows into tables defined like the final ones…"
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "0,%d,612%07d,C,Bulk,%s,,I,4\n", i, 2000000 + i, (i % 3 == 0) ? "t" : "f" }' > "$work/phones-final.csv"
phones_copy=$(copy "CREATE TABLE bench_phones (LIKE van_phones INCLUDING ALL)" \
  "bench_phones (db_mode, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score)" "$work/phones-final.csv")
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "0,%d,2024-09-01,2024-09-05,2024-10-01,D,2,1,4,12 Main St,Saint Paul,MN,55101-1234,US,1\n", i }' > "$work/avev-final.csv"
avev_copy=$(copy "CREATE TABLE bench_avev (LIKE van_avev INCLUDING ALL)" \
  "bench_avev (db_mode, vanid, request_received, ballot_mailed, ballot_received, ballot_party, ballot_return_status_id, ballot_type_id, ballot_request_type_id, ballot_address1, ballot_city, ballot_state, ballot_zip9, ballot_country, load_job_id)" "$work/avev-final.csv")
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "1,%d\n", i }' > "$work/list-final.csv"
list_copy=$(copy "CREATE TABLE bench_members (LIKE van_saved_list_members INCLUDING ALL)" "bench_members (list_id, vanid)" "$work/list-final.csv")

out=bench/actions-results.md
row() { echo "| $1 | ${2}s | ${3}s | $(echo "scale=2; $2 / $3" | bc)× |"; }
{
  echo "# Issue-4 actions benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo
  echo "$ROWS rows per file, every row valid and matched; one worker (concurrency 1)."
  echo
  echo "| action | end to end over HTTP (POST → Completed) | psql \\copy into a table like the final one | ratio |"
  echo "| --- | --- | --- | --- |"
  row phonesFile "$phones_s" "$phones_copy"
  row AVEVDataFile "$avev_s" "$avev_copy"
  row LoadSavedListFile "$list_s" "$list_copy"
  echo
  echo "- worker peak RSS (VmHWM) over the three loads: $((rss_kb / 1024)) MB"
  echo "- load average when the run ended: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "Worker phases (from its log):"
  echo
  grep -E '"msg":"(source fetched|rows staged|action applied|job succeeded)"' "$work/worker.log" | jq -r '"- \(.time) \(.msg) \(.rows // .bytes // .duration_ms // "")"' || true
} > "$out"
cat "$out"
