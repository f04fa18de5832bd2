#!/usr/bin/env bash
# Demo of the Rocky registrant reports, run by scripts/demo.sh
# with TURNOUT_* exported and the stack up at $TURNOUT_DEMO_URL: builds a
# registrant report for the demo partner and prints its download URL.
#
# The partner comes from the Rocky demo ($TURNOUT_DEMO_DIR/rocky-partner.json,
# {"partner_id", "partner_API_key"}) when it left one; otherwise it is
# created through POST /api/v4/partners.json with the demo admin key and a
# few registrants are added through POST /api/v4/registrations/bulk.
set -euo pipefail
: "${TURNOUT_DEMO_URL:?run through scripts/demo.sh}"
dir=${TURNOUT_DEMO_DIR:-var/demo}
url=$TURNOUT_DEMO_URL
mkdir -p "$dir"

partner_file=$dir/rocky-partner.json
if ! jq -e '.partner_id and .partner_API_key' "$partner_file" >/dev/null 2>&1; then
	: "${TURNOUT_DEMO_SECRET:?need the demo admin key to create a partner}"
	curl -fsS -X POST -H "X-API-Key: $TURNOUT_DEMO_SECRET" -H 'Content-Type: application/json' \
		-d '{"partner": {"org_name": "Demo Report Club", "org_URL": "https://demo.example.org", "contact_name": "Pat Demo",
			"contact_email": "pat@example.org", "contact_phone": "4155551212", "contact_address": "1 Demo Way",
			"contact_city": "San Francisco", "contact_state": "CA", "contact_ZIP": "94110"}}' \
		"$url/api/v4/partners.json" >"$partner_file"
	echo "created partner $(jq -r .partner_id "$partner_file") (saved in $partner_file)"
fi
pid=$(jq -r .partner_id "$partner_file")
key=$(jq -r .partner_API_key "$partner_file")

# A few registrants, one with a formula-looking name to show neutralisation.
records=$(jq -nc '[range(0; 5) | {lang: "en", status: "complete", first_name: "Demo \(.)", last_name: "Voter",
	email_address: "demo\(.)@example.org", home_zip_code: "94110"}] + [{lang: "es", status: "step_2",
	first_name: "=HYPERLINK(\"http://x\")", last_name: "Formula", email_address: "f@example.org", home_zip_code: "94110"}]')
if out=$(curl -sS -X POST -H 'Content-Type: application/json' \
	-d "{\"partner_id\": \"$pid\", \"partner_API_key\": \"$key\", \"registrants\": $records}" \
	"$url/api/v4/registrations/bulk"); then
	echo "bulk registrants: $out"
fi

created=$(curl -fsS -X POST -H 'Content-Type: application/json' \
	-d "{\"partner_id\": \"$pid\", \"partner_API_key\": \"$key\", \"report_type\": \"extended\"}" \
	"$url/api/v4/registrant_reports.json")
echo "report requested: $created"
status_url=$(jq -r .status_url <<<"$created")
creds="partner_id=$pid&partner_API_key=$(jq -rn --arg k "$key" '$k|@uri')"
download=""
for _ in $(seq 1 100); do
	st=$(curl -fsS "$status_url?$creds")
	download=$(jq -r .download_url <<<"$st")
	[[ -n $download ]] && break
	[[ $(jq -r .status <<<"$st") == failed ]] && { echo "report failed: $st"; exit 1; }
	sleep 0.2
done
[[ -n $download ]] || { echo "report not complete after 20s: $st"; exit 1; }
echo "report status: $st"
echo "first lines:"
curl -fsS "$download?$creds" | head -3 | cut -c1-160
echo
echo "download URL (partner credentials as query parameters):"
echo "  $download?partner_id=$pid&partner_API_key=<the partner key in $partner_file>"
