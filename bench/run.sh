#!/usr/bin/env bash
# make bench: every benchmark beside its baseline measured in the same run,
# so the machine's noise cancels out of the ratios; one table of ratios and
# targets (printed, and at the top of bench/results.md) with each
# benchmark's detail below it.
#
#   file loads    bench/fileload.sh   score, phones (first load, re-load, one row in ten changed),
#                                     AV/EV, list files
#                                     POST → Completed beside psql \copy into the final table and
#                                     the same work in SQL by hand, 3 interleaved runs; worker peak RSS on a
#                                     BIG_ROWS-row file; POST /v4/fileLoadingJobs under load
#                                     beside Echo returning a constant
#   reports       bench/report.sh     1M-registrant CSV beside psql \copy (SELECT …) TO
#   exports       bench/export.sh     1M-member saved list export beside psql \copy (SELECT vanid …) TO,
#                                     three interleaved runs each, medians and spread
#   no-op jobs    go test -bench NoopJobs ./bench   API + worker beside raw Asynq
#   registration  bench/rocky.sh   PDFs/s; POST → pdf_ready p50/p99 at 100/s
#   event streams bench/sse.sh     1,000 idle GET /service/jobs/{id}/events streams: RSS, heap,
#                                  goroutines and CPU per stream beside the API with none open;
#                                  one change to all their jobs → every stream told, p50/p99
#
# ROWS (default 1000000) sizes the file loads; BIG_ROWS (5000000) the RSS run.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROWS=${ROWS:-1000000} BIG_ROWS=${BIG_ROWS:-5000000}
out=bench/results.md
mkdir -p bench/results
rm -f bench/results/*
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A load_after
took=() # "step N s", each step's wall time

# step NAME: announces the step and ends the one before it.
step_name="" step_start=0
step() {
	[ -n "$step_name" ] && took+=("$step_name $(($(date +%s) - step_start)) s")
	step_name=$1 step_start=$(date +%s)
	[ -n "$1" ] && { echo; echo "== $1 (load average $(cut -d' ' -f1-3 /proc/loadavg))"; }
	return 0
}
step "file loads"
bench/fileload.sh
load_after[fileload]=$(cut -d' ' -f1-3 /proc/loadavg)
step "registrant report"
bench/report.sh
load_after[report]=$(cut -d' ' -f1-3 /proc/loadavg)
step "saved list export"
bench/export.sh
load_after[export]=$(cut -d' ' -f1-3 /proc/loadavg)
step "no-op jobs"
go test -count=3 -run '^$' -bench NoopJobs -benchtime 1x ./bench/ | tee bench/results/noop.txt
load_after[noop]=$(cut -d' ' -f1-3 /proc/loadavg)
step "registrations and PDFs"
bench/rocky.sh
load_after[rocky]=$(cut -d' ' -f1-3 /proc/loadavg)
step "job event streams"
bench/sse.sh
load_after[sse]=$(cut -d' ' -f1-3 /proc/loadavg)
step ""
elapsed=$(($(date +%s) - started))

# metric FILE BENCHMARK UNIT: the value a Go benchmark line reports in UNIT.
metric() {
	awk -v b="$2" -v u="$3" '$1 ~ "^"b"(-[0-9]+)?$" { for (i = 3; i <= NF; i++) if ($i == u) { print $(i - 1); exit } }' "$1" 2>/dev/null
}
# median FILE BENCHMARK UNIT: metric's median over the runs of -count.
median() {
	awk -v b="$2" -v u="$3" '$1 ~ "^"b"(-[0-9]+)?$" { for (i = 3; i <= NF; i++) if ($i == u) print $(i - 1) }' "$1" 2>/dev/null |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
# shellcheck disable=SC1091
. bench/results/fileload.env
report_s=$(metric bench/results/report.txt BenchmarkReport1M build-s)
report_psql_s=$(metric bench/results/report.txt BenchmarkReport1M psql-s)
export_s=$(metric bench/results/export.txt BenchmarkSavedListExport1M export-s)
export_spread=$(metric bench/results/export.txt BenchmarkSavedListExport1M export-spread-s)
export_psql_s=$(metric bench/results/export.txt BenchmarkSavedListExport1M psql-s)
export_psql_spread=$(metric bench/results/export.txt BenchmarkSavedListExport1M psql-spread-s)
noop_jobs=$(median bench/results/noop.txt BenchmarkNoopJobs/turnout jobs/s)
noop_asynq=$(median bench/results/noop.txt BenchmarkNoopJobs/asynq jobs/s)
noop_batch=$(median bench/results/noop.txt BenchmarkNoopJobs/turnout-batch jobs/s)
pdf_p50=$(metric bench/results/rocky.txt BenchmarkLatencyAt100PerSecond p50_ms)
pdf_p99=$(metric bench/results/rocky.txt BenchmarkLatencyAt100PerSecond p99_ms)
sse=bench/results/sse.txt
sse_rss=$(metric $sse 'BenchmarkIdleEventStreams/streams=[0-9]+' rss-KiB/stream)
sse_heap=$(metric $sse 'BenchmarkIdleEventStreams/streams=[0-9]+' heap-KiB/stream)
sse_cpu=$(metric $sse 'BenchmarkIdleEventStreams/streams=[0-9]+' cpu-us/stream/min)
sse_idle_rss=$(metric $sse 'BenchmarkIdleEventStreams/streams=[0-9]+' api-rss-MiB-idle)
sse_idle_cpu=$(metric $sse 'BenchmarkIdleEventStreams/streams=[0-9]+' api-cpu-ms/min-idle)
sse_p99=$(metric $sse 'BenchmarkEventFanOut/streams=[0-9]+' p99-ms)

ratio() { [ -n "$1" ] && [ -n "$2" ] && printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)" || echo "n/a"; }
# met VALUE OP LIMIT → yes / no / n/a
met() { [ -n "$1" ] && [ "$1" != n/a ] || { echo "n/a"; return; }; [ "$(echo "$1 $2 $3" | bc)" = 1 ] && echo yes || echo "**no**"; }
fmt() { [ -n "$1" ] && printf "%.${2:-2}f" "$1" || echo "n/a"; }
report_r=$(ratio "$report_s" "$report_psql_s")
export_r=$(ratio "$export_s" "$export_psql_s")
noop_r=$(ratio "$noop_jobs" "$noop_asynq"); noop_batch_r=$(ratio "$noop_batch" "$noop_asynq"); post_r=$(ratio "$post_rps" "$echo_rps")
# count N → 1M, 5M, or N itself when it is not a whole million
count() { (($1 % 1000000)) && echo "$1" || echo "$(($1 / 1000000))M"; }
M=$(count "$rows"); B=$(count "$big_rows")

table=$(
	echo "| workload | Turnout | baseline in the same run | ratio | target | met |"
	echo "| --- | --- | --- | --- | --- | --- |"
	# action NAME LABEL TABLE: one file-load row, Turnout beside both baselines.
	action() {
		local t c h r
		t=${1}_s c=${1}_copy_s h=${1}_sql_s
		[ "$1" = phones_reload ] || [ "$1" = phones_edit ] && c=phones_copy_s
		r=$(ratio "${!t}" "${!c}")
		local rt=range_${3}_t rc=range_${3}_c rh=range_${3}_h
		echo "| $M-row $2, POST → job Completed; median ($runs interleaved runs: min–max) | $(fmt "${!t}") s (${!rt}) | 1: \`psql \\copy\` into $4: $(fmt "${!c}") s (${!rc}); 2: the same work in SQL by hand: $(fmt "${!h}") s (${!rh}) | ${r}× of 1, $(ratio "${!t}" "${!h}")× of 2 | ≤ 1.5× of 1 | $(met "$r" '<=' 1.5) |"
	}
	action score "score file against $M people" score van_score_update_values
	action phones "phones file, first load" phones van_phones
	action phones_reload "phones file, re-load of the same file (1: the first load's \\copy)" reload van_phones
	action phones_edit "phones file, the file again with one row in ten changed (1: the first load's \\copy)" edit van_phones
	action avev "AVEVDataFile" avev van_avev
	action list "LoadSavedListFile" list van_saved_list_members
	echo "| registrant report, 1M rows (report job → CSV in the blob store) | $(fmt "$report_s") s | \`psql \\copy (SELECT …) TO\`: $(fmt "$report_psql_s") s | ${report_r}× | ≤ 1.5× | $(met "$report_r" '<=' 1.5) |"
	echo "| saved list export, 1M members, type 4 (export job → CSV in the blob store), median of 3 interleaved runs | $(fmt "$export_s") s (spread $(fmt "$export_spread") s) | \`psql \\copy (SELECT vanid …) TO\`: $(fmt "$export_psql_s") s (spread $(fmt "$export_psql_spread") s) | ${export_r}× | ≤ 1.5× | $(met "$export_r" '<=' 1.5) |"
	echo "| no-op jobs through API + worker, one job per POST | $(fmt "$noop_jobs" 0) jobs/s | raw Asynq enqueue + process: $(fmt "$noop_asynq" 0) jobs/s | ${noop_r}× | ≥ 0.5× | $(met "$noop_r" '>=' 0.5) |"
	echo "| no-op jobs through API + worker, POST /service/jobs/batch of 50 | $(fmt "$noop_batch" 0) jobs/s | same run | ${noop_batch_r}× | ≥ 0.5× | $(met "$noop_batch_r" '>=' 0.5) |"
	echo "| POST /v4/fileLoadingJobs, $clients clients, ${load_seconds} s (bench/cmd/benchhttp) | $post_rps req/s, p50 $post_p50_ms ms, p99 $post_p99_ms ms | Echo returning a constant: $echo_rps req/s, p50 $echo_p50_ms ms, p99 $echo_p99_ms ms | ${post_r}× (req/s) | report | — |"
	echo "| registration → PDF ready at 100/s | p50 $(fmt "$pdf_p50" 0) ms, p99 $(fmt "$pdf_p99" 0) ms | — | — | p99 < 1 s | $(met "$pdf_p99" '<' 1000) |"
	echo "| 1,000 idle job event streams (GET /service/jobs/{id}/events; bench/sse.sh) | per stream: $(fmt "$sse_rss" 1) KiB RSS, $(fmt "$sse_heap" 1) KiB heap, $(fmt "$sse_cpu" 0) µs CPU a minute; one change to all their jobs told on every stream within $(fmt "$sse_p99" 0) ms (p99) | the same API with none open: $(fmt "$sse_idle_rss" 0) MiB RSS, $(fmt "$sse_idle_cpu" 0) ms CPU a minute | — | report | — |"
	echo "| worker peak RSS (VmHWM), $B-row score file: vanids 1..$big_rows against $M imported people ($M matched, the rest unmatched) | $big_rss_mb MB ($(fmt "$big_s") s) | — | — | < 200 MB | $(met "$big_rss_mb" '<' 200) |"
)
{
	echo "# Turnout benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, \`make bench\` in $((elapsed / 60)) min $((elapsed % 60)) s)"
	echo
	echo "Each Turnout figure is measured beside its baseline in the same run, on the same machine and"
	echo "database, so the ratio is what counts. Load average (1, 5, 15 min): $load_start at the start;"
	echo "after the file loads ${load_after[fileload]}, the report ${load_after[report]}, the export ${load_after[export]}, the no-op jobs"
	echo "${load_after[noop]}, the registrations ${load_after[rocky]}, the event streams ${load_after[sse]}."
	echo "Each step's wall time: $(printf '%s, ' "${took[@]}" | sed 's/, $//')."
	echo
	echo "$table"
	echo
	echo "## File loads ($rows rows)"
	echo
	tail -n +3 bench/fileload-results.md
	echo
	echo "## Score loads by database and file size (make bench-large)"
	echo
	if [ -f bench/results-large.md ]; then sed '1s/^# /### /' bench/results-large.md; else echo "Not run yet: \`make bench-large\`."; fi
	echo
	echo "## API throughput against the build before the key cache (make bench-api)"
	echo
	if [ -f bench/results-api.md ]; then sed '1s/^# /### /' bench/results-api.md; else echo "Not run yet: \`make bench-api\`."; fi
	echo
	echo "## Registrant report (1M rows)"
	echo
	echo "The report job run in process (COPY → pipe → file blob store) beside \`psql \\copy\` of the same"
	echo "SELECT to a file (bench/report.sh, jobs/report BenchmarkReport1M):"
	echo
	echo '```'
	cat bench/results/report.txt
	echo '```'
	echo
	echo "## Saved list export (1M members)"
	echo
	echo "The export job run in process (type 4: COPY → pipe → file blob store) interleaved with \`psql"
	echo "\\copy (SELECT vanid FROM van_saved_list_members WHERE list_id = … ORDER BY vanid) TO\` of the same"
	echo "list, three runs each; medians and spread (slowest − fastest) (bench/export.sh, jobs/export"
	echo "BenchmarkSavedListExport1M):"
	echo
	echo '```'
	cat bench/results/export.txt
	echo '```'
	echo
	echo "## No-op jobs"
	echo
	echo "10,000 jobs POSTed to the native API (auth, rate limit, usage counters, row, enqueue) and run"
	echo "by a worker (row read, outcome written in batches, start recorded only for attempts over 100 ms)"
	echo "beside raw Asynq enqueue and processing of as many no-op tasks, same concurrency (10 workers,"
	echo "8 clients; bench/noop_test.go). Three runs each; the table takes the medians:"
	echo
	echo '```'
	grep -E '^Benchmark' bench/results/noop.txt || echo "(no benchmark lines)"
	echo '```'
	echo
	echo "## Registrations and PDFs"
	echo
	echo '```'
	cat bench/results/rocky.txt
	echo '```'
	echo
	echo "## Job event streams"
	echo
	echo "turnout-api alone (no worker: the jobs stay queued and the streams idle but for the 15 s"
	echo "heartbeat), one queued no-op job per stream. Its own /metrics read with no stream open and then"
	echo "with every stream open, each over the same idle spell; the differences divided by the streams."
	echo "Then one UPDATE changes every watched job's progress, timed until each stream has told it, and"
	echo "the streams are closed (bench/sse.sh, bench/cmd/benchsse):"
	echo
	echo '```'
	cat bench/results/sse.txt
	echo '```'
} >"$out"

echo
echo "$table"
echo
echo "make bench took $((elapsed / 60)) min $((elapsed % 60)) s; load average at the start $load_start, at the end ${load_after[sse]}"
echo "results in $out"
