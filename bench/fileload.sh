#!/usr/bin/env bash
# File-load benchmarks on one stack of the real binaries
# (turnout-api, turnout-worker, PostgreSQL, Redis), so ROWS people are
# imported once:
#
#   1. the action rows: zipped score, phonesFile (a first load, then the
#      same file again: a re-load, then a file with one row in ten changed:
#      an edit), AVEVDataFile and LoadSavedListFile files
#      of ROWS rows (default 1,000,000), every row matching a person. RUNS
#      (default 3) interleaved runs, the order swapped from one run to the
#      next (odd runs: Turnout, then the baselines; even runs: the baselines,
#      then Turnout), each load timed three ways, every one starting from the
#      same table contents:
#        - Turnout: POST /v4/fileLoadingJobs → status Completed (polled
#          every 20 ms by bench/cmd/benchhttp), one worker (concurrency 1);
#        - baseline 1: `psql \copy` of the very file (FROM PROGRAM 'unzip
#          -p FILE.zip', unzip in the time) into the final table itself,
#          with its real constraints (keys, checks, indexes); the columns
#          the file lacks (database mode, update, list, job) come from
#          column defaults set on the bench database only;
#        - baseline 2: the same work hand-written in SQL, one transaction
#          in one psql session: \copy into a temporary table of text
#          columns, then casts, the join to van_people, the dedupe (the
#          file's last row wins) and the insert or upsert into the final
#          table.
#      Reported: median and min–max of each, the ratios of the medians, the
#      load average after each run. A re-load or an edit has no \copy of
#      its own (a \copy cannot upsert): its baseline 1 is the first load's
#      \copy.
#   2. the worker's peak RSS (VmHWM) on a BIG_ROWS-row score file (default
#      5,000,000: vanids 1..BIG_ROWS against the ROWS imported people, so
#      ROWS match and the rest do not), in a worker started for that file;
#   3. POST /v4/fileLoadingJobs under load (CLIENTS concurrent clients for
#      LOAD_SECONDS, no worker running, so only the API is measured) beside an
#      Echo app answering the same route with a constant, same load generator.
#
# Writes bench/fileload-results.md (the detail) and bench/results/fileload.env
# (the figures bench/run.sh puts in its table). ROWS=100000 runs it in
# about a minute.
#
# Needs bin/ built (make build), PostgreSQL and Redis (make services), go,
# psql, zip, unzip, jq, bc, python3 (serves the files on 127.0.0.1).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-3}
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
folder=$(bin/turnout folders create --name Bench --api-writable --key-id "$(jq -r .id <<<"$key")" --json | jq -r .folderId)

echo "generating the files…"
awk -v n="$ROWS" 'BEGIN { print "vanid,score"; for (i = 1; i <= n; i++) printf "%d,%d\n", i, (i * 7919) % 101 }' > "$work/scores.csv"
# Every person gets a distinct number; every third one is preferred.
awk -v n="$ROWS" 'BEGIN { print "VANID,PhoneType,PhoneSource,Phone,PreferredPhone,PhoneExt,PhoneOptInStatus,SonarScore";
  for (i = 1; i <= n; i++) printf "%d,Cell,Bulk,612%07d,%d,,Opt In,4\n", i, 2000000 + i, (i % 3 == 0) }' > "$work/phones.csv"
# The same phones, one in ten now a home phone.
awk -F, -v OFS=, 'NR > 1 && NR % 10 == 0 { $2 = "Home" } 1' "$work/phones.csv" > "$work/phones-edit.csv"
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "%d,9/1/2024,09/05/2024,2024-10-01,,D,,,,,2,1,4,12 Main St,,,Saint Paul,MN,55101-1234,US,,,,\n", i }' > "$work/avev.csv"
awk -v n="$ROWS" 'BEGIN { print "VANID"; for (i = 1; i <= n; i++) print i }' > "$work/list.csv"
awk -v n="$BIG_ROWS" 'BEGIN { print "vanid,score"; for (i = 1; i <= n; i++) printf "%d,%d\n", i, (i * 7919) % 101 }' > "$work/big.csv"
for f in scores phones phones-edit avev list big; do (cd "$work" && zip -q "$f.zip" "$f.csv" && rm "$f.csv"); done

avev_names=(RequestReceived BallotMailed BallotReceived EarlyVoted BallotParty BallotCancelled ApplicationMailed GOTVVoted
  DateApplicationReceived BallotReturnStatus BallotType BallotRequestType BallotAddress1 BallotAddress2 BallotAddress3 BallotCity
  BallotState BallotZip9 BallotCountry BallotReissued BallotRejectionReason BallotApplicationRequested BallotRejected)
# van_avev's columns for those, and the cast each takes from text.
avev_db=(request_received ballot_mailed ballot_received early_voted ballot_party ballot_cancelled application_mailed gotv_voted
  date_application_received ballot_return_status_id ballot_type_id ballot_request_type_id ballot_address1 ballot_address2
  ballot_address3 ballot_city ballot_state ballot_zip9 ballot_country ballot_reissued ballot_rejection_reason_id
  ballot_application_requested ballot_rejected)
avev_cast=(date date date date "" date date date date integer integer integer "" "" "" "" "" "" "" date integer date date)
avev_cols=$(printf '{"name":"%s"},' VANID "${avev_names[@]}")
score_body() { echo '{"description":"bench","file":{"columnDelimiter":"Csv","fileName":"'$1'.csv","hasHeader":true,"sourceUrl":"'$src/$1'.zip",
 "columns":[{"name":"vanid"},{"name":"score"}]},
 "actions":[{"actionType":"Score","personIdColumn":"vanid","personIdType":"VANID","scoreColumn":"score","scoreId":'$2'}]}'; }
new_score() { bin/turnout scores create --name "Bench $1" --min 0 --max 100 --json | jq -r .scoreId; }
# Each run loads a score of its own, so every run is a first load of its score.
for r in $(seq "$RUNS"); do score_body scores "$(new_score "$r")" > "$work/scores-$r.json"; done
score_body big "$(new_score big)" > "$work/big.json"
for f in phones phones-edit; do
  echo '{"description":"bench phones","file":{"columnDelimiter":"Csv","fileName":"'$f'.csv","hasHeader":true,"sourceUrl":"'$src/$f'.zip",
   "columns":[{"name":"VANID"},{"name":"PhoneType"},{"name":"PhoneSource"},{"name":"Phone"},{"name":"PreferredPhone"},{"name":"PhoneExt"},{"name":"PhoneOptInStatus"},{"name":"SonarScore"}]},
   "actions":[{"actionType":"phonesFile"}]}' > "$work/$f.json"
done
echo '{"description":"bench avev","file":{"columnDelimiter":"Csv","fileName":"avev.csv","hasHeader":false,"sourceUrl":"'$src'/avev.zip",
 "columns":['${avev_cols%,}']},"actions":[{"actionType":"AVEVDataFile"}]}' > "$work/avev.json"
# List names are unique within a folder: a list per run.
for r in $(seq "$RUNS"); do
  echo '{"description":"bench list","file":{"columnDelimiter":"Csv","fileName":"list.csv","hasHeader":true,"sourceUrl":"'$src'/list.zip",
   "columns":[{"name":"VANID"}]},"actions":[{"actionType":"LoadSavedListFile","listName":"Bench '$r'","personIdColumn":"VANID","personIdType":"VANID","folderId":'$folder'}]}' > "$work/list-$r.json"
done

(cd "$work" && exec python3 -m http.server "$fileport" --bind 127.0.0.1 >/dev/null 2>&1) & pids+=($!)
bin/turnout-api 2>"$work/api.log" & pids+=($!)
waitfor "$api/healthz"; waitfor "$src/list.zip"
start_worker() {
  bin/turnout-worker --queues fileload,notify --concurrency 1 2>>"$work/worker.log" & wpid=$!; pids+=($wpid)
  for _ in $(seq 200); do grep -q '"worker started"' "$work/worker.log" && break; sleep 0.05; done
}
stop_worker() { kill "$wpid"; wait "$wpid" 2>/dev/null || true; }
# job NAME WANT_MATCHED → seconds from the POST to Completed (fails on anything else)
# The worker's peak RSS during the job goes to $work/peaks as "NAME KB"
# (NAME without its run number), and the peak is reset for the next job.
job() {
  local s m
  s=$("$work/benchhttp" job -url "$api/v4/fileLoadingJobs" -body "$work/$1.json" -out "$work/$1-job.json")
  m=$(jq -r '.actions[0].results | .matchedRows // .matchedRowsCount' "$work/$1-job.json")
  [ "$m" = "$2" ] || { echo "$1: the job matched $m rows, want $2" >&2; exit 1; }
  echo "${1%-[0-9]*} $(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")" >> "$work/peaks"
  echo 5 > "/proc/$wpid/clear_refs"
  echo "$s"
}
# timed CMD… → seconds CMD took (its output discarded)
timed() { local t; t=$(now); "$@" >/dev/null; since "$t"; }
# rows TABLE [WHERE [N]] → fails unless the table holds exactly N (ROWS)
# rows (there)
rows() {
  local n; n=$(sql -At -c "SELECT count(*) FROM $1 ${2:-}")
  [ "$n" = "${3:-$ROWS}" ] || { echo "$1 ${2:-}: $n rows, want ${3:-$ROWS}" >&2; exit 1; }
}
unzip_of() { echo "FROM PROGRAM 'unzip -p $work/$1.zip'"; }

# Baseline 1 copies the file's columns only; the others come from these
# defaults, set on this scratch database alone (Turnout always names them).
list0=$(sql -At -c "INSERT INTO van_saved_lists (folder_id, db_mode, key_id, name) VALUES ($folder, 0, $(jq -r .id <<<"$key"), 'Bench copy') RETURNING id")
sql -c "ALTER TABLE van_score_update_values ALTER score_update_id SET DEFAULT 0;
  ALTER TABLE van_phones ALTER db_mode SET DEFAULT 0;
  ALTER TABLE van_avev ALTER db_mode SET DEFAULT 0, ALTER load_job_id SET DEFAULT 0;
  ALTER TABLE van_saved_list_members ALTER list_id SET DEFAULT $list0"
avev_list=$(IFS=,; echo "${avev_db[*]}")
avev_text=$(printf 'c_%s text, ' "${avev_db[@]}")
avev_sel=""; avev_set=""
for i in "${!avev_db[@]}"; do
  c=${avev_db[$i]}; avev_sel+="c_$c${avev_cast[$i]:+::${avev_cast[$i]}}, "; avev_set+="$c = excluded.$c, "
done
# AV/EV dates come as M/D/YYYY or YYYY-MM-DD.
export PGDATESTYLE="ISO, MDY"

# The three ways of each load. t_* are Turnout, c_* baseline 1, h_* baseline 2.
t_score() { sql -c "TRUNCATE van_score_update_values"; job "scores-$1" "$ROWS"; rows van_score_update_values; }
c_score() {
  sql -c "TRUNCATE van_score_update_values"
  timed sql -c "\\copy van_score_update_values (vanid, value) $(unzip_of scores) CSV HEADER"
  rows van_score_update_values
}
h_score() {
  sql -c "TRUNCATE van_score_update_values"
  timed sql -1 <<SQL
CREATE TEMP TABLE t (line bigserial, vanid text, score text) ON COMMIT DROP;
\\copy t (vanid, score) $(unzip_of scores) CSV HEADER
INSERT INTO van_score_update_values (score_update_id, vanid, value)
  SELECT DISTINCT ON (p.vanid) 0, p.vanid, t.score FROM t JOIN van_people p ON p.db_mode = 0 AND p.vanid = t.vanid::bigint
  ORDER BY p.vanid, t.line DESC;
SQL
  rows van_score_update_values
}
# phones: a first load into an empty table, the same file again, then the
# file with one row in ten changed.
t_phones() {
  local first again edit
  sql -c "TRUNCATE van_phones"
  first=$(job phones "$ROWS"); again=$(job phones "$ROWS"); edit=$(job phones-edit "$ROWS")
  echo "$first $again $edit"
  rows van_phones
  rows van_phones "WHERE phone_type = 'H'" "$((ROWS / 10))"
}
c_phones() {
  sql -c "TRUNCATE van_phones"
  timed sql -c "\\copy van_phones (vanid, phone_type, phone_source, phone, preferred, ext, opt_in_status, sonar_score) $(unzip_of phones) CSV HEADER"
  rows van_phones
}
# h_phones_sql FILE: the hand-written load of FILE.zip
h_phones_sql() {
  cat <<SQL
CREATE TEMP TABLE t (line bigserial, vanid text, phone_type text, phone_source text, phone text, preferred text, ext text, opt_in text, sonar text) ON COMMIT DROP;
\\copy t (vanid, phone_type, phone_source, phone, preferred, ext, opt_in, sonar) $(unzip_of "$1") CSV HEADER
CREATE TEMP TABLE n ON COMMIT DROP AS SELECT DISTINCT ON (vanid::bigint, phone) * FROM t ORDER BY vanid::bigint, phone, line DESC;
UPDATE van_phones ph SET preferred = false, updated_at = now() FROM n
  WHERE n.preferred = '1' AND ph.db_mode = 0 AND ph.vanid = n.vanid::bigint AND ph.preferred AND ph.phone <> n.phone;
INSERT INTO van_phones AS ph (db_mode, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score)
  SELECT 0, p.vanid, n.phone, n.phone_type, n.phone_source, n.preferred::boolean, n.ext, n.opt_in, n.sonar::smallint
  FROM n JOIN van_people p ON p.db_mode = 0 AND p.vanid = n.vanid::bigint
  LEFT JOIN van_phones o ON o.db_mode = 0 AND o.vanid = p.vanid AND o.phone = n.phone
    AND (o.phone_type, o.phone_source, o.preferred, o.ext, o.opt_in_status, o.sonar_score)
      IS NOT DISTINCT FROM (n.phone_type, n.phone_source, n.preferred::boolean, n.ext, n.opt_in, n.sonar::smallint)
  WHERE o.vanid IS NULL -- an unchanged phone is left as it is
  ORDER BY p.vanid, n.phone
  ON CONFLICT (db_mode, vanid, phone) DO UPDATE SET phone_type = excluded.phone_type, phone_source = excluded.phone_source,
    preferred = excluded.preferred, ext = excluded.ext, opt_in_status = excluded.opt_in_status, sonar_score = excluded.sonar_score,
    updated_at = now();
SQL
}
h_phones() {
  sql -c "TRUNCATE van_phones"
  local first again edit
  first=$(h_phones_sql phones | timed sql -1); again=$(h_phones_sql phones | timed sql -1)
  edit=$(h_phones_sql phones-edit | timed sql -1)
  echo "$first $again $edit"
  rows van_phones
  rows van_phones "WHERE phone_type = 'Home'" "$((ROWS / 10))"
}
t_avev() { sql -c "TRUNCATE van_avev"; job avev "$ROWS"; rows van_avev; }
c_avev() {
  sql -c "TRUNCATE van_avev"
  timed sql -c "\\copy van_avev (vanid, $avev_list) $(unzip_of avev) CSV"
  rows van_avev
}
h_avev() {
  sql -c "TRUNCATE van_avev"
  timed sql -1 <<SQL
CREATE TEMP TABLE t (line bigserial, vanid text, ${avev_text%, }) ON COMMIT DROP;
\\copy t (vanid, $(printf 'c_%s, ' "${avev_db[@]}" | sed 's/, $//')) $(unzip_of avev) CSV
INSERT INTO van_avev AS a (db_mode, vanid, $avev_list, load_job_id)
  SELECT DISTINCT ON (p.vanid) 0, p.vanid, ${avev_sel%, }, 0
  FROM t JOIN van_people p ON p.db_mode = 0 AND p.vanid = t.vanid::bigint
  ORDER BY p.vanid, t.line DESC
  ON CONFLICT (db_mode, vanid) DO UPDATE SET ${avev_set%, }, load_job_id = excluded.load_job_id, updated_at = now();
SQL
  rows van_avev
}
t_list() { sql -c "TRUNCATE van_saved_list_members"; job "list-$1" "$ROWS"; rows van_saved_list_members; }
c_list() {
  sql -c "TRUNCATE van_saved_list_members"
  timed sql -c "\\copy van_saved_list_members (vanid) $(unzip_of list) CSV HEADER"
  rows van_saved_list_members
}
h_list() {
  sql -c "TRUNCATE van_saved_list_members"
  timed sql -1 <<SQL
INSERT INTO van_saved_lists (folder_id, db_mode, key_id, name) VALUES ($folder, 0, $(jq -r .id <<<"$key"), 'Bench SQL $1') RETURNING id \\gset
CREATE TEMP TABLE t (vanid text) ON COMMIT DROP;
\\copy t $(unzip_of list) CSV HEADER
INSERT INTO van_saved_list_members (list_id, vanid)
  SELECT :id, v FROM (SELECT DISTINCT p.vanid AS v FROM t JOIN van_people p ON p.db_mode = 0 AND p.vanid = t.vanid::bigint) d ORDER BY v;
SQL
  rows van_saved_list_members
}

declare -A times # "load way" → the runs' seconds, space-separated
record() { times[$1 $2]+="$3 "; }
# measure WAY RUN: every load of one way.
measure() {
  local s f again edit
  s=$("${1}_score" "$2"); record score "$1" "$s"
  s=$("${1}_phones" "$2"); read -r f again edit <<<"$s"
  record phones "$1" "$f"; record reload "$1" "${again:-$f}"; record edit "$1" "${edit:-$f}"
  s=$("${1}_avev" "$2"); record avev "$1" "$s"
  s=$("${1}_list" "$2"); record list "$1" "$s"
}

echo "action rows, $RUNS interleaved runs…"
start_worker
loads=()
for r in $(seq "$RUNS"); do
  if (( r % 2 )); then ways=(t c h); else ways=(c h t); fi
  for w in "${ways[@]}"; do measure "$w" "$r"; done
  loads+=("$(cut -d' ' -f1-3 /proc/loadavg)")
  echo "  run $r (${ways[*]}): load average ${loads[-1]}"
done
# The largest of the loads' peaks, and each load's.
rss_kb=$(awk '$2 > m { m = $2 } END { print m }' "$work/peaks")
peaks=$(awk '$2 > m[$1] { m[$1] = $2 } END { for (n in m) printf "%s %d MB\n", n, m[n] / 1024 }' "$work/peaks" | sort | paste -sd, | sed 's/,/, /g')
stop_worker

echo "peak RSS of a fresh worker on a $BIG_ROWS-row score file…"
start_worker
big_s=$(job big "$(( ROWS < BIG_ROWS ? ROWS : BIG_ROWS ))")
big_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")
stop_worker

# No worker runs from here: the jobs POSTed below stay queued, and the
# figures are the API's (with PostgreSQL and Redis) alone.
echo "POST /v4/fileLoadingJobs, $CLIENTS clients for ${LOAD_SECONDS}s, then the same against Echo…"
"$work/benchhttp" echo -addr "127.0.0.1:$echoport" & pids+=($!)
loadrun() { "$work/benchhttp" load -url "$1/v4/fileLoadingJobs" -body "$work/scores-1.json" -clients "$CLIENTS" -duration "${LOAD_SECONDS}s"; }
post=$(loadrun "$api")
posted_jobs=$(sql -At -c "SELECT count(*) FROM jobs")
for _ in $(seq 100); do curl -fs -X POST "http://127.0.0.1:$echoport/v4/fileLoadingJobs" >/dev/null && break; sleep 0.1; done
echo_=$(loadrun "http://127.0.0.1:$echoport")
echo "  Turnout: $post"
echo "  Echo:    $echo_"

ms() { printf '%.1f' "$(jq -r ".$2" <<<"$1")"; }
rps() { printf '%.0f' "$(jq -r .rps <<<"$1")"; }
# median LOAD WAY, spread LOAD WAY: over the runs
median() { tr ' ' '\n' <<<"${times[$1 $2]}" | grep . | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", v[int((NR + 1) / 2)] }'; }
spread() { tr ' ' '\n' <<<"${times[$1 $2]}" | grep . | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f–%.2f", v[1], v[NR] }'; }
# The re-load's and the edit's \copy is the first load's (a \copy cannot
# upsert).
times[reload c]=${times[phones c]}
times[edit c]=${times[phones c]}
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p bench/results
cat > bench/results/fileload.env <<ENV
rows=$ROWS
runs=$RUNS
big_rows=$BIG_ROWS
score_s=$(median score t)
score_copy_s=$(median score c)
score_sql_s=$(median score h)
phones_s=$(median phones t)
phones_copy_s=$(median phones c)
phones_sql_s=$(median phones h)
phones_reload_s=$(median reload t)
phones_reload_sql_s=$(median reload h)
phones_edit_s=$(median edit t)
phones_edit_sql_s=$(median edit h)
avev_s=$(median avev t)
avev_copy_s=$(median avev c)
avev_sql_s=$(median avev h)
list_s=$(median list t)
list_copy_s=$(median list c)
list_sql_s=$(median list h)
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
for l in score phones reload edit avev list; do
  for w in t c h; do echo "range_${l}_$w=$(spread "$l" "$w")"; done
done >> bench/results/fileload.env

out=bench/fileload-results.md
# row LOAD TITLE: Turnout, baseline 1, baseline 2, ratios of the medians
row() {
  local t c h
  t=$(median "$1" t); c=$(median "$1" c); h=$(median "$1" h)
  echo "| $2 | ${t}s ($(spread "$1" t)) | ${c}s ($(spread "$1" c)) | **$(ratio "$t" "$c")×** | ${h}s ($(spread "$1" h)) | $(ratio "$t" "$h")× |"
}
{
  echo "# File-load benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo
  echo "$ROWS rows per file against $ROWS people, every row valid and matched; one worker (concurrency 1)."
  echo "$RUNS interleaved runs (odd runs Turnout first, even runs the baselines first); median (min–max)."
  echo "Turnout: POST → status Completed, polled every 20 ms. Baseline 1: \`psql \\copy … FROM PROGRAM"
  echo "'unzip -p FILE.zip'\` of the very file into the final table itself (keys, checks, indexes), unzip in"
  echo "the time. Baseline 2: the same work hand-written in SQL in one transaction (\\copy into a temporary"
  echo "table of text, casts, join to van_people, dedupe with the file's last row winning, insert or upsert"
  echo "into the final table). Every run starts from the same table contents (empty, but for the re-load and the edit)."
  echo
  echo "| load | Turnout | baseline 1: psql \\copy | Turnout / \\copy | baseline 2: SQL by hand | Turnout / SQL |"
  echo "| --- | --- | --- | --- | --- | --- |"
  row score "Score (van_score_update_values)"
  row phones "phonesFile, first load (van_phones)"
  row reload "phonesFile, re-load of the same file (upsert; \\copy: the first load's)"
  row edit "phonesFile, the file again with one row in ten changed (upsert; \\copy: the first load's)"
  row avev "AVEVDataFile (van_avev)"
  row list "LoadSavedListFile (van_saved_list_members)"
  echo
  echo "Load average (1, 5, 15 min) after each run: $(printf '%s; ' "${loads[@]}" | sed 's/; $//')."
  echo
  echo "- worker peak RSS (VmHWM) over these loads, in one process: $((rss_kb / 1024)) MB; by load: $peaks"
  echo "- a fresh worker on a $BIG_ROWS-row score file (vanids 1..$BIG_ROWS against $ROWS imported people:"
  echo "  $(( ROWS < BIG_ROWS ? ROWS : BIG_ROWS )) matched): ${big_s}s, peak RSS (VmHWM) $((big_rss_kb / 1024)) MB"
  echo "- people import (\`turnout people import\`, $ROWS rows, not part of any figure above): ${people_s}s"
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
  echo "Worker phases of the last run of each load (from its log):"
  echo
  grep -E '"msg":"(source fetched|rows staged|action applied|job succeeded)"' "$work/worker.log" | tail -28 | jq -r '"- \(.time) \(.msg) \(.rows // .bytes // .duration_ms // "")"' || true
} > "$out"
cat "$out"
