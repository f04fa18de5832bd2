#!/usr/bin/env bash
# make demo: a working Turnout stack on this machine.
#
#   scripts/demo.sh        migrate, create a demo key, start an SMTP catcher,
#                          the API and a worker in the background, run the demos
#   scripts/demo.sh stop   stop what it started
#
# Everything lives under var/demo (logs, pid files, the demo key). Override
# TURNOUT_HTTP_ADDR, TURNOUT_DATABASE_URL or TURNOUT_REDIS_URL to move it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO=$ROOT/var/demo
mkdir -p "$DEMO"

stop() {
	for p in worker api smtp; do
		if [[ -f $DEMO/$p.pid ]]; then
			kill "$(cat "$DEMO/$p.pid")" 2>/dev/null || true
			rm -f "$DEMO/$p.pid"
		fi
	done
}
if [[ ${1:-} == stop ]]; then stop; echo "demo stopped"; exit 0; fi
stop

export TURNOUT_HTTP_ADDR=${TURNOUT_HTTP_ADDR:-127.0.0.1:8080}
export TURNOUT_PUBLIC_URL=${TURNOUT_PUBLIC_URL:-http://${TURNOUT_HTTP_ADDR/#:/localhost:}}
export TURNOUT_DATABASE_URL=${TURNOUT_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/turnout?sslmode=disable}
export TURNOUT_REDIS_URL=${TURNOUT_REDIS_URL:-redis://127.0.0.1:6379/0}
export TURNOUT_BLOB_URL=${TURNOUT_BLOB_URL:-file://$ROOT/var/blobs}
export TURNOUT_SMTP_URL=${TURNOUT_SMTP_URL:-smtp://127.0.0.1:1025}
# Demo sources and webhook receivers run on this machine.
export TURNOUT_ALLOW_NETWORKS=${TURNOUT_ALLOW_NETWORKS:-127.0.0.0/8}
# A fixed demo key for data encrypted at rest; production sets its own.
export TURNOUT_ENCRYPTION_KEY=${TURNOUT_ENCRYPTION_KEY:-dHVybm91dC1kZW1vLWtleS1ub3QtZm9yLXByb2QhISE=}
export TURNOUT_DEMO_URL=$TURNOUT_PUBLIC_URL
export TURNOUT_DEMO_MAIL_LOG=$DEMO/mail.log
export TURNOUT_DEMO_DIR=$DEMO

dbname=$(sed -E 's#^[a-z]+://[^/]*/([^?]*).*#\1#' <<<"$TURNOUT_DATABASE_URL")
admin_url=$(sed -E "s#/$dbname(\?|$)#/postgres\1#" <<<"$TURNOUT_DATABASE_URL")
if ! psql "$admin_url" -tAc "SELECT 1 FROM pg_database WHERE datname = '$dbname'" | grep -q 1; then
	psql "$admin_url" -qc "CREATE DATABASE \"$dbname\""
	echo "created database $dbname"
fi
bin/turnout migrate up

: >"$DEMO/mail.log"
smtp_addr=${TURNOUT_SMTP_URL#smtp://}
bin/turnout dev smtp --addr "$smtp_addr" --log "$DEMO/mail.log" >"$DEMO/smtp.log" 2>&1 </dev/null &
echo $! >"$DEMO/smtp.pid"
# A port another program holds would make the API exit at once; say so
# before starting anything rather than after a minute of waiting.
http_host=${TURNOUT_HTTP_ADDR%:*}
http_port=${TURNOUT_HTTP_ADDR##*:}
if timeout 2 bash -c "exec 3<>/dev/tcp/${http_host:-127.0.0.1}/$http_port" 2>/dev/null; then
	echo "demo: $TURNOUT_HTTP_ADDR is already in use; free it or set TURNOUT_HTTP_ADDR (e.g. TURNOUT_HTTP_ADDR=127.0.0.1:8081 make demo)" >&2
	kill "$(cat "$DEMO/smtp.pid")" 2>/dev/null || true
	exit 1
fi
bin/turnout-api >"$DEMO/api.log" 2>&1 </dev/null &
echo $! >"$DEMO/api.pid"
bin/turnout-worker >"$DEMO/worker.log" 2>&1 </dev/null &
echo $! >"$DEMO/worker.pid"

for _ in $(seq 1 60); do
	curl -fsS "$TURNOUT_PUBLIC_URL/readyz" >/dev/null 2>&1 && break
	kill -0 "$(cat "$DEMO/api.pid")" 2>/dev/null || break
	sleep 0.5
done
curl -fsS "$TURNOUT_PUBLIC_URL/readyz" >/dev/null || { echo "API did not become ready; see $DEMO/api.log"; tail -20 "$DEMO/api.log"; exit 1; }

# The demo key is made once and reused while it still works, so repeated
# runs do not pile up all-scopes keys.
secret=""
if [[ -s $DEMO/key.json ]]; then
	secret=$(sed -E 's/.*"secret":"([^"]+)".*/\1/' "$DEMO/key.json")
	curl -fsS -o /dev/null -u "demo:$secret|0" "$TURNOUT_PUBLIC_URL/v4/scores" 2>/dev/null || secret=""
fi
if [[ -z $secret ]]; then
	bin/turnout keys create --name demo --scopes admin,metrics,van,rocky,targets \
		--van-app demo --db-mode 0 --auto-approve --rate-limit 600 --batch-size 100 --json >"$DEMO/key.json"
	secret=$(sed -E 's/.*"secret":"([^"]+)".*/\1/' "$DEMO/key.json")
else
	echo "reusing the demo key in $DEMO/key.json"
fi
export TURNOUT_DEMO_SECRET=$secret

echo
echo "== a no-op job through API → Redis → worker → PostgreSQL"
job=$(curl -fsS -X POST -H "X-API-Key: $secret" "$TURNOUT_PUBLIC_URL/service/jobs")
id=$(sed -E 's/.*"job":\{"id":([0-9]+).*/\1/' <<<"$job")
for _ in $(seq 1 50); do
	out=$(curl -fsS -H "X-API-Key: $secret" "$TURNOUT_PUBLIC_URL/service/jobs/$id")
	grep -q '"status":"succeeded"' <<<"$out" && break
	sleep 0.2
done
echo "$out"

for extra in scripts/demo-fileload.sh scripts/demo-actions.sh scripts/demo-rocky.sh scripts/demo-report.sh; do
	if [[ -x $extra ]]; then
		echo
		echo "== $extra"
		"$extra"
	fi
done

cat <<MSG

Turnout is running (logs in var/demo/, stop with: make demo-stop)
  API            $TURNOUT_PUBLIC_URL
  status page    $TURNOUT_PUBLIC_URL/status
  dashboard      $TURNOUT_PUBLIC_URL/monitoring/   (user: anything, password: the demo key's secret)
  metrics        $TURNOUT_PUBLIC_URL/metrics
  API contract   $TURNOUT_PUBLIC_URL/openapi.yaml
  demo key       $secret   (all scopes; VAN: demo:$secret|0)
  mail catcher   $TURNOUT_SMTP_URL → var/demo/mail.log
MSG
