#!/usr/bin/env bash
# The demo of VAN's phonesFile, AVEVDataFile and LoadSavedListFile actions, run by scripts/demo.sh after
# demo-fileload.sh, with the stack up and TURNOUT_* exported
# (TURNOUT_DEMO_URL, TURNOUT_DEMO_SECRET for the VAN app "demo" in db mode 0,
# TURNOUT_DEMO_DIR holding key.json).
#
# It serves two small files on 127.0.0.1 and submits VAN's documented phonesFile
# and AVEVDataFile examples (their listener addresses are placeholders,
# so demo@example.org stands in), then a LoadSavedListFile job into a folder
# created with `turnout folders create --api-writable`, and shows each
# job's results, the phone-load statistics and the saved list.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in jq zip python3 curl; do command -v "$tool" >/dev/null || { echo "demo-actions: please install $tool" >&2; exit 1; }; done
URL=${TURNOUT_DEMO_URL:?run from scripts/demo.sh}
SECRET=${TURNOUT_DEMO_SECRET:?run from scripts/demo.sh}
KEY_ID=$(jq -r .id "${TURNOUT_DEMO_DIR:-var/demo}/key.json")
DIR=${TURNOUT_DEMO_DIR:-var/demo}/actions
AUTH="demo:$SECRET|0"
mkdir -p "$DIR/www"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "-- 20 synthetic people (importing again leaves one copy)"
bin/turnout gen people --count 20 --seed 42 --out "$DIR/people.csv"
bin/turnout people import --db-mode 0 "$DIR/people.csv"

# Phones: two rows make person 3's preferred phone ambiguous (the later row
# wins, the earlier is a row error); a blank type and an unknown source take
# VAN's defaults (Home, Bulk); one number is not NANP.
cat >"$DIR/vf-phone-load.csv" <<'CSV'
VANID,PhoneType,PhoneSource,Phone,PreferredPhone,PhoneExt,PhoneOptInStatus,SonarScore
1,Cell,Voter File,6125550101,1,,Opt In,4
2,,Carrier pigeon,2025550102,true,12,,
3,Work,Bulk,3125550103,1,,,
3,Cell,Appended,3125550104,1,,Opt Out,2
4,Cell,Bulk,1235550105,0,,,
CSV
# AV/EV (no header, VAN's 24 columns): one row with an inactive-or-
# unknown ballot type (99) is reported, the others load.
cat >"$DIR/avev-file.csv" <<'CSV'
1,9/1/2024,09/05/2024,2024-10-01,,D,,,,,2,1,4,12 Main St,,,Saint Paul,MN,55101-1234,US,,,,
2,9/2/2024,,,10/20/2024,R,,,,,,2,,,,,,,,,,,,
5,,,,,,,,,,,99,,,,,,,,,,,,
CSV
printf 'VANID\n1\n2\n2\n3\n999999\n' >"$DIR/list.csv"
rm -f "$DIR"/www/*.zip
(cd "$DIR" && zip -qj www/vf-phone-load.zip vf-phone-load.csv && zip -qj www/avev-file.zip avev-file.csv && zip -qj www/list.zip list.csv)
port=$(freeport)
(cd "$DIR/www" && exec python3 -m http.server "$port" --bind 127.0.0.1) >"$DIR/files.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fsI "http://127.0.0.1:$port/list.zip" >/dev/null 2>&1 && break; sleep 0.1; done

submit() {
  curl -fsS -u "$AUTH" -H 'Content-Type: application/json' -d "$1" "$URL/v4/fileLoadingJobs" | jq -r .jobId
}
finish() {
  local st
  for _ in $(seq 150); do
    st=$(curl -fsS -u "$AUTH" "$URL/v4/fileLoadingJobs/$1")
    case $(jq -r .status <<<"$st") in Completed | Error) break ;; esac
    sleep 0.2
  done
  jq '{jobId, status, message, rowsRead, errorCount, results: [.actions[] | {actionType, results}], errors: [.errors[] | {line, column, message}]}' <<<"$st"
}

echo "-- POST /v4/fileLoadingJobs: VAN's phonesFile example"
phones=$(submit '{
  "description": "VF Phone Load",
  "listeners": [{"type": "email", "value": "demo@example.org" }],
  "file":
  {
    "columnDelimiter": "Csv",
    "fileName": "vf-phone-load.csv",
    "sourceUrl": "http://127.0.0.1:'"$port"'/vf-phone-load.zip",
    "hasHeader": true,
    "columns": [
      { "name": "VANID" },
      { "name": "PhoneType" },
      { "name": "PhoneSource" },
      { "name": "Phone" },
      { "name": "PreferredPhone" },
      { "name": "PhoneExt" },
      { "name": "PhoneOptInStatus" },
      { "name": "SonarScore" }
    ]
  },
  "actions":
  [
    {
      "actionType": "phonesFile"
    }
  ]
}')
finish "$phones"
echo "-- GET /v4/fileLoadingJobs/$phones/stats"
curl -fsS -u "$AUTH" "$URL/v4/fileLoadingJobs/$phones/stats" | jq -c .

echo "-- POST /v4/fileLoadingJobs: VAN's AVEVDataFile example"
cols=$(printf '{ "name": "%s" },' VANID RequestReceived BallotMailed BallotReceived EarlyVoted BallotParty BallotCancelled \
  ApplicationMailed GOTVVoted DateApplicationReceived BallotReturnStatus BallotType BallotRequestType BallotAddress1 BallotAddress2 \
  BallotAddress3 BallotCity BallotState BallotZip9 BallotCountry BallotReissued BallotRejectionReason BallotApplicationRequested BallotRejected)
avev=$(submit '{
  "description": "Load AV/EV Data",
  "listeners": [{"type": "email", "value": "demo@example.org" }],
  "file":
  {
    "columnDelimiter": "Csv",
    "fileName": "avev-file.csv",
    "sourceUrl": "http://127.0.0.1:'"$port"'/avev-file.zip",
    "hasHeader": false,
    "columns": ['"${cols%,}"']
  },
  "actions":
  [
    {
      "actionType": "AVEVDataFile"
    }
  ]
}')
finish "$avev"

echo "-- turnout folders create --name 'Field lists' --api-writable --key-id $KEY_ID --json"
folder_json=$(bin/turnout folders create --name "Field lists" --api-writable --key-id "$KEY_ID" --json)
echo "$folder_json"
folder=$(jq -r .folderId <<<"$folder_json")
echo "-- POST /v4/fileLoadingJobs: LoadSavedListFile (as Parsons sends it)"
list=$(submit '{"description": "Saved List Load",
  "file": {"columnDelimiter": "Csv", "fileName": "list.csv", "hasHeader": "True", "sourceUrl": "http://127.0.0.1:'"$port"'/list.zip",
           "columns": [{"name": "VANID"}]},
  "actions": [{"actionType": "LoadSavedListFile", "listName": "Demo universe '"$(date +%s)"'", "listDescription": "from the demo",
               "personIdColumn": "VANID", "personIdType": "VANID", "folderId": '"$folder"'}]}')
finish "$list"
echo "-- GET /v4/savedLists?folderId=$folder"
curl -fsS -u "$AUTH" "$URL/v4/savedLists?folderId=$folder" | jq -c .
echo "-- GET /v4/folders"
curl -fsS -u "$AUTH" "$URL/v4/folders" | jq -c .
