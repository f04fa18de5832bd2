#!/usr/bin/env bash
# The VAN file-load demo, run by scripts/demo.sh with the stack up
# and TURNOUT_* exported (TURNOUT_DEMO_URL, TURNOUT_DEMO_SECRET for the VAN
# app "demo" in db mode 0, TURNOUT_DEMO_DIR holding key.json).
#
# It generates people and two scores, serves VAN's documented haberdashery file
# (zipped) on 127.0.0.1, submits VAN's two-score example job as a VAN client
# would, and shows the job finishing, the signed webhook received (its
# signature verified independently, in Python) and the score updates: one
# auto-approved and applied, one pending until approved here.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tools the demo uses; on Debian they are installed when missing.
missing=()
for tool in jq zip python3 curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || { echo "demo-fileload: please install ${missing[*]}" >&2; exit 1; }
  SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -q >/dev/null
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
URL=${TURNOUT_DEMO_URL:?run from scripts/demo.sh}
SECRET=${TURNOUT_DEMO_SECRET:?run from scripts/demo.sh}
DIR=${TURNOUT_DEMO_DIR:-var/demo}/fileload
WEBHOOK_SECRET=$(jq -r .webhookSecret "${TURNOUT_DEMO_DIR:-var/demo}/key.json")
AUTH="demo:$SECRET|0"
PEOPLE=${DEMO_PEOPLE:-1000}
mkdir -p "$DIR/www"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "-- $PEOPLE synthetic people (turnout gen people | turnout people import)"
bin/turnout gen people --count "$PEOPLE" --seed 42 --out "$DIR/people.csv"
bin/turnout people import --db-mode 0 "$DIR/people.csv"

echo "-- two range scores (turnout scores create)"
hat=$(bin/turnout scores create --name "Hat wearing" --short-name HatWear --min 0 --max 100 --json | jq -r .scoreId)
need=$(bin/turnout scores create --name "Needs another hat" --short-name HatNeed --min 0 --max 100 --json | jq -r .scoreId)
echo "scores $hat and $need"

# Column 3 alternates 76.2 / 74.2: its average is 75.2, inside the example's
# approval criteria (75.2 ± 1.3), so that update is approved automatically.
awk -v n="$PEOPLE" 'BEGIN { printf "hatWearerId,hatWearingScore,needsAnotherHatScore\r\n";
  for (i = 1; i <= n; i++) printf "%d,%d,%s\r\n", i, (i * 37) % 101, (i % 2 ? "76.2" : "74.2") }' >"$DIR/haberdashery.csv"
rm -f "$DIR/www/haberdasher.csv.zip"
(cd "$DIR" && zip -qj www/haberdasher.csv.zip haberdashery.csv)

fileport=$(freeport)
hookport=$(freeport)
(cd "$DIR/www" && exec python3 -m http.server "$fileport" --bind 127.0.0.1) >"$DIR/files.log" 2>&1 &
pids+=($!)
: >"$DIR/webhook.log"
# An independent Standard Webhooks verifier: HMAC-SHA256 over id.timestamp.body
# keyed by the base64 part of the whsec_ secret.
python3 - "$hookport" "$WEBHOOK_SECRET" "$DIR/webhook.log" <<'PY' &
import base64, hashlib, hmac, http.server, json, sys, time
port, secret, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
key = base64.b64decode(secret.removeprefix("whsec_"))
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        mid, ts = self.headers["webhook-id"], self.headers["webhook-timestamp"]
        want = base64.b64encode(hmac.new(key, f"{mid}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
        sigs = [s.split(",", 1)[1] for s in self.headers["webhook-signature"].split() if s.startswith("v1,")]
        ok = any(hmac.compare_digest(s, want) for s in sigs) and abs(time.time() - int(ts)) < 300
        with open(log, "a") as f:
            f.write(json.dumps({"webhook-id": mid, "signature": "verified" if ok else "INVALID", "body": json.loads(body)}) + "\n")
        self.send_response(200 if ok else 401); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
pids+=($!)
for _ in $(seq 50); do
  curl -fsI "http://127.0.0.1:$fileport/haberdasher.csv.zip" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "-- POST $URL/v4/FileLoadingJobs (VAN's two-score example; the source URL carries credentials)"
body=$(jq -n --arg src "http://keep:s3cret@127.0.0.1:$fileport/haberdasher.csv.zip" --argjson a "$hat" --argjson b "$need" \
  --arg hook "http://127.0.0.1:$hookport/listener" '{
  description: "Load habberdasher score",
  file: {columnDelimiter: "Csv", columns: [{name: "hatWearerId"}, {name: "hatWearingScore"}, {name: "needsAnotherHatScore"}],
         fileName: "haberdashery.csv", hasHeader: true, sourceUrl: $src},
  actions: [
    {actionType: "score", personIdColumn: "hatWearerId", personIdType: "VANID", scoreColumn: "hatWearingScore", scoreId: $a},
    {actionType: "score", personIdColumn: "hatWearerId", personIdType: "VANID", scoreColumn: "needsAnotherHatScore", scoreId: $b,
     approvalCriteria: {average: 75.2, tolerance: 1.3}}],
  listeners: [{type: "URL", value: $hook}, {type: "EMAIL", value: "hats@example.org"}]}')
job=$(curl -fsS -u "$AUTH" -H 'Content-Type: application/json' -d "$body" "$URL/v4/FileLoadingJobs" | jq -r .jobId)
echo "jobId $job"

for _ in $(seq 150); do
  st=$(curl -fsS -u "$AUTH" "$URL/v4/fileLoadingJobs/$job")
  case $(jq -r .status <<<"$st") in Completed | Error) break ;; esac
  sleep 0.2
done
echo "-- GET /v4/fileLoadingJobs/$job (sourceUrl password redacted)"
jq '{jobId, status, message, interval, sourceUrl: .file.sourceUrl, rowsRead, errorCount,
     actions: [.actions[] | {scoreId, approvalCriteria, results}]}' <<<"$st"

echo "-- webhook received"
for _ in $(seq 100); do [ -s "$DIR/webhook.log" ] && break; sleep 0.1; done
jq -c '{"webhook-id", signature, body: (.body | {description, message, status, scoreUpdates: [.scoreUpdates[]? | {scoreUpdateId, loadStatus}]})}' "$DIR/webhook.log"

echo "-- GET /v4/scoreUpdates?scoreId=$hat (pending) and approve it with PATCH"
pending=$(curl -fsS -u "$AUTH" "$URL/v4/scoreUpdates?scoreId=$hat" | jq -r '.items[0].scoreUpdateId')
curl -fsS -u "$AUTH" -X PATCH -H 'Content-Type: application/json' -d '{"loadStatus":"Approved"}' \
  -o /dev/null -w "PATCH /v4/scoreUpdates/$pending → %{http_code}\n" "$URL/v4/scoreUpdates/$pending"
echo "-- GET /v4/scoreUpdates"
curl -fsS -u "$AUTH" "$URL/v4/scoreUpdates?createdAfter=$(date -u +%Y-%m-%d)&\$top=10" |
  jq -c '.items[] | {scoreUpdateId, score: .score.name, loadStatus, matched: .updateStatistics.matchedRows, average: .updateStatistics.averageValue}'
if [ -n "${TURNOUT_DEMO_MAIL_LOG:-}" ] && [ -f "$TURNOUT_DEMO_MAIL_LOG" ]; then
  echo "-- email to hats@example.org: see $TURNOUT_DEMO_MAIL_LOG"
fi
