#!/usr/bin/env bash
# make bench-large: score loads as the database grows (1M, 5M and 20M
# people) and as the file grows (100k, 1M and 5M rows, every row matched
# where the database holds that many people), each beside psql \copy of the
# same file in three interleaved runs (bench/score.sh). About 15 minutes,
# most of it making the 20M people. Writes bench/results-large.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results-large.md
started=$(date +%s)
mkdir -p bench/results
for spec in "1000000:100000 1000000" "5000000:100000 1000000 5000000" "20000000:100000 1000000 5000000"; do
  PEOPLE=${spec%%:*} FILES=${spec#*:} OUT=bench/results/large-${spec%%:*}.md bench/score.sh
done
elapsed=$(($(date +%s) - started))
{
  echo "# Score loads by database and file size ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, \`make bench-large\` in $((elapsed / 60)) min $((elapsed % 60)) s, $(git rev-parse --short HEAD))"
  echo
  echo "Each file is loaded by Turnout (POST /v4/fileLoadingJobs → Completed, one worker) and copied by"
  echo "\`psql \\copy\` into a table defined like van_score_update_values, three runs each, interleaved"
  echo "and the order swapped between runs; median (min–max) in seconds. Targets: a 100k-row file"
  echo "≤ 2× and a 5M-row file, every row matched, ≤ 1.5× of \\copy; worker peak RSS < 200 MB."
  for p in 1000000 5000000 20000000; do
    echo
    cat "bench/results/large-$p.md"
  done
} > "$out"
cat "$out"
