#!/usr/bin/env bash
# Rocky benchmarks (PostgreSQL and Redis must answer: scripts/services.sh).
# Prints Go benchmark lines and keeps them in bench/results/rocky.txt.
#   - BenchmarkRenderPDF: forms rendered per second on one core (no I/O)
#   - BenchmarkPDFWorker: the PDF job through the worker (DB + blob store),
#     per CPU-second of the worker process
#   - BenchmarkRegistrationsWithPDF: POSTs through the API until every PDF exists
#   - BenchmarkLatencyAt100PerSecond: POST → pdf_ready=true, p50/p99 at 100/s
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
{
	go test -run '^$' -bench RenderPDF -benchtime 3s ./jobs/registration/
	go test -run '^$' -bench 'PDFWorker|RegistrationsWithPDF' -benchtime 2000x ./api/rocky/
	go test -run '^$' -bench LatencyAt100PerSecond -benchtime 1x ./api/rocky/
} 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)' | tee bench/results/rocky.txt
