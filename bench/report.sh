#!/usr/bin/env bash
# Registrant report benchmark: 1,000,000 registrants built into
# the Rocky CSV by the report job, beside `psql \copy` of the same SELECT in
# the same run. Prints build and psql seconds, their ratio (target <= 1.5)
# and the process's peak RSS and heap; keeps the benchmark line in
# bench/results/report.txt (for bench/run.sh's table) and appends it to
# the history in bench/results-report.md.
#
# Needs PostgreSQL and Redis (scripts/services.sh) and psql.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh >/dev/null
out=$(go test -count=1 -timeout 30m -run '^$' -bench 'BenchmarkReport1M' -benchtime 1x ./jobs/report/ 2>&1) || { echo "$out"; exit 1; }
echo "$out"
line=$(grep -E '^BenchmarkReport1M' <<<"$out")
mkdir -p bench/results
echo "$line" >bench/results/report.txt
{
	echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -n) ($(nproc) cores)"
	echo
	echo '```'
	echo "$line"
	echo '```'
	echo
} >>bench/results-report.md
