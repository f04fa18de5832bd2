#!/usr/bin/env bash
# Rocky API v4 demo, run by scripts/demo.sh with the stack up: creates a
# partner, checks California's requirements, submits a registration, waits
# for pdf_ready, prints the PDF URL and the confirmation e-mail the worker
# sent to the demo's SMTP catcher.
#
# Needs: TURNOUT_DEMO_URL (the API), bin/turnout built, and either
# TURNOUT_DEMO_SECRET (a key with the admin scope) or the database env to
# create one. Shows mail from TURNOUT_DEMO_MAIL_LOG when set.
set -euo pipefail
cd "$(dirname "$0")/.."
URL=${TURNOUT_DEMO_URL:?set TURNOUT_DEMO_URL to the API base URL}

json_field() { # json_field NAME < json  (first string or scalar value of NAME)
	sed -nE "s/.*\"$1\":\"?([^\",}]*)\"?.*/\1/p" | head -1
}

admin=${TURNOUT_DEMO_SECRET:-}
if [[ -z $admin ]]; then
	admin=$(bin/turnout keys create --name rocky-demo-admin --scopes admin --json | json_field secret)
fi

echo "-- create a partner (POST /api/v4/partners.json, admin key)"
partner=$(curl -fsS -X POST "$URL/api/v4/partners.json" -H "X-API-Key: $admin" -H 'Content-Type: application/json' -d '{
  "partner": {"org_name": "Demo Votes", "org_URL": "https://demo.example.org", "contact_name": "Pat Demo",
              "contact_email": "pat@demo.example.org", "contact_phone": "4155551212", "contact_address": "1 Demo Way",
              "contact_city": "San Francisco", "contact_state": "CA",
              "contact_ZIP": "94110", "survey_question_1_en": "Why do you vote?",
              "survey_question_1_es": "¿Por qué vota?", "partner_ask_volunteer": true}}')
partner_id=$(json_field partner_id <<<"$partner")
partner_key=$(json_field partner_API_key <<<"$partner")
echo "partner_id=$partner_id (its partner_API_key is shown once, at creation)"

echo
echo "-- state requirements for ZIP 94110 (GET /api/v4/state_requirements.json)"
curl -fsS "$URL/api/v4/state_requirements.json?lang=en&home_zip_code=94110" | cut -c1-400
echo "..."

echo
echo "-- submit a registration (POST /api/v4/registrations.json)"
body='{
  "registration": {"lang": "en", "partner_id": "'"$partner_id"'", "send_confirmation_reminder_emails": true,
    "created_at": "'"$(date -u +%m%d%Y\ %H:%M:%S)"'", "updated_at": "'"$(date -u +%m%d%Y\ %H:%M:%S)"'",
    "date_of_birth": "05-17-1990", "id_number": "D1234567", "email_address": "ada@example.org",
    "first_registration": true, "home_zip_code": "94110", "us_citizen": true, "has_state_license": true,
    "is_eighteen_or_older": true, "name_title": "Ms.", "first_name": "Ada", "last_name": "Lovelace",
    "home_address": "12 Valencia St", "home_city": "San Francisco", "home_state_id": "CA",
    "has_mailing_address": false, "party": "Democratic", "change_of_name": false, "change_of_address": false,
    "opt_in_email": false, "opt_in_sms": false, "opt_in_volunteer": false, "partner_opt_in_email": true,
    "partner_opt_in_sms": false, "partner_opt_in_volunteer": false,
    "survey_question_1": "Why do you vote?", "survey_answer_1": "Because it matters."}}'
reg=$(curl -fsS -X POST "$URL/api/v4/registrations.json" -H 'Content-Type: application/json' -d "$body")
echo "$reg"
uid=$(json_field uid <<<"$reg")
pdfurl=$(json_field pdfurl <<<"$reg")

echo
echo "-- an invalid one gets Rocky's error shape"
echo "(the same registration in Spanish with a New York ZIP code)"
curl -sS -X POST "$URL/api/v4/registrations.json" -H 'Content-Type: application/json' \
	-d "$(sed -e 's/"lang": "en"/"lang": "es"/' -e 's/"94110"/"10001"/' <<<"$body")"
echo

echo
echo "-- wait for pdf_ready (GET /api/v4/registrations/pdf_ready?UID=...)"
ready=false
for _ in $(seq 1 100); do
	out=$(curl -fsS "$URL/api/v4/registrations/pdf_ready?UID=$uid")
	if grep -q '"pdf_ready":true' <<<"$out"; then ready=true; break; fi
	sleep 0.1
done
echo "$out"
if [[ $ready != true ]]; then echo "PDF not ready after 10s: is turnout-worker running (queue pdf)?"; exit 1; fi
bytes=$(curl -fsS "$URL${pdfurl#"${pdfurl%%/pdf/*}"}" | wc -c)
echo "PDF ready: $pdfurl ($bytes bytes)"

echo
echo "-- the confirmation e-mail"
if [[ -n ${TURNOUT_DEMO_MAIL_LOG:-} ]]; then
	for _ in $(seq 1 50); do
		grep -q "Subject: Your voter registration form is ready" "$TURNOUT_DEMO_MAIL_LOG" 2>/dev/null && break
		sleep 0.2
	done
	# The log holds every message ("From: ..." starts one); show the text
	# part of the last one about this registrant.
	msg=$(awk -v uid="$uid" '/^From: /{ if (index(blk, uid)) last=blk; blk="" } !/^</{ blk=blk $0 "\n" } END{ if (index(blk, uid)) last=blk; printf "%s", last }' "$TURNOUT_DEMO_MAIL_LOG")
	if [[ -n $msg ]]; then echo "$msg"; else echo "(not in $TURNOUT_DEMO_MAIL_LOG yet: the notify queue may be busy)"; fi
else
	echo "(TURNOUT_DEMO_MAIL_LOG is not set; the e-mail went to $TURNOUT_SMTP_URL)"
fi

echo
echo "-- stop the reminders (POST /api/v4/registrations/stop_reminders, partner key)"
curl -fsS -X POST "$URL/api/v4/registrations/stop_reminders" -H 'Content-Type: application/json' \
	-d '{"partner_id": "'"$partner_id"'", "partner_API_key": "'"$partner_key"'", "UID": "'"$uid"'"}'
echo
