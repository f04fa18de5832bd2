#!/usr/bin/env bash
# VAN export job benchmark: a saved list of EXPORT_ROWS members (default
# 1,000,000) exported by the export job (type 4, the VANID column: COPY →
# pipe → file blob store, in process) interleaved with `psql \copy (SELECT
# vanid …) TO` of the same list, three runs each. Prints each side's median
# and spread, the ratio of the medians (target <= 1.5) and the process's
# peak RSS and heap; keeps the benchmark line in bench/results/export.txt
# (for bench/run.sh's table) and appends it to the history in
# bench/results-export.md.
#
# Needs PostgreSQL and Redis (scripts/services.sh) and psql.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh >/dev/null
out=$(go test -count=1 -timeout 30m -run '^$' -bench 'BenchmarkSavedListExport1M' -benchtime 1x ./jobs/export/ 2>&1) || { echo "$out"; exit 1; }
echo "$out"
line=$(grep -E '^BenchmarkSavedListExport1M' <<<"$out")
mkdir -p bench/results
echo "$line" >bench/results/export.txt
{
	echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -n) ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
	echo
	echo '```'
	echo "$line"
	echo '```'
	echo
} >>bench/results-export.md
