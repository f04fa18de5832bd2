#!/usr/bin/env bash
# make bench: every benchmark, each beside its baseline measured in the same
# run, collected into bench/results.md.
#
#   file loads   bench/fileload.sh      1M-row zipped score file, POST → done, beside psql \copy
#   actions      bench/actions.sh       phones, AV/EV, saved lists: POST → done, beside psql \copy
#   reports      bench/report.sh        1M-registrant CSV beside psql \copy (SELECT …) TO
#   no-op jobs   go test -bench NoopJobs ./bench    API + worker beside raw Asynq
#   registration scripts/bench-rocky.sh PDFs/s and POST → pdf_ready p50/p99 at 100/s
#
# ROWS (default 1000000) sizes the file-load and report runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROWS=${ROWS:-1000000}
# pgloader is the file-load baseline a data engineer would otherwise use.
if ! command -v pgloader >/dev/null && command -v apt-get >/dev/null; then
	sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgloader >/dev/null 2>&1 ||
		echo "pgloader could not be installed; the file-load table will say so"
fi
out=bench/results.md
mkdir -p bench/results

{
	echo "# Turnout benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
	echo
	echo "Each workload is measured beside its baseline in the same run; see the sections for the figures."
	echo
} >"$out"

section() { echo "== $1"; printf '## %s\n\n' "$1" >>"$out"; }

section "File load ($ROWS rows)"
bench/fileload.sh
cat bench/fileload-results.md >>"$out"
echo >>"$out"

section "Phones, AV/EV and saved-list loads ($ROWS rows each)"
bench/actions.sh
cat bench/actions-results.md >>"$out"
echo >>"$out"

section "Registrant report ($ROWS rows)"
ROWS=$ROWS bench/report.sh
tail -n 12 bench/results-report.md >>"$out"
echo >>"$out"

section "No-op jobs"
go test -run '^$' -bench NoopJobs -benchtime 1x ./bench/ | tee bench/results/noop.txt
{
	echo '```'
	grep -E '^Benchmark' bench/results/noop.txt
	echo '```'
	echo
} >>"$out"

section "Registrations and PDFs"
scripts/bench-rocky.sh
{
	echo '```'
	cat bench/results/rocky.txt
	echo '```'
} >>"$out"

echo
echo "results in $out"
