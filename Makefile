# Turnout's front door. Each target is a few lines; the work is in scripts/
# and Go commands. See README.md.
GO      ?= go
BIN     := bin
PKGS    := ./...

.PHONY: all build test test-race race-core lint demo demo-stop services bench bench-large bench-api chaos fuzz clean

all: build

build: ## build the three binaries into bin/
	$(GO) build -trimpath -o $(BIN)/ ./cmd/...

services: ## make sure PostgreSQL and Redis answer (installs/starts them if not)
	scripts/services.sh

test: services ## the whole suite against real PostgreSQL and Redis
	$(GO) test -count=1 -timeout 9m $(PKGS)

test-race: services
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

race-core: services ## the race detector on the concurrent core (worker, storage, batching, jobs)
	$(GO) test -race -count=1 -timeout 15m ./worker/... ./storage/... ./internal/batch/... ./jobs/...

lint: ## gofmt, go vet, staticcheck
	scripts/lint.sh

demo: services build ## a working stack on this machine; prints its URLs
	scripts/demo.sh

demo-stop:
	scripts/demo.sh stop

bench: services build ## benchmarks; results in bench/results.md
	bench/run.sh

bench-large: services build ## score loads by database size (1M, 5M, 20M people) and file size (100k, 1M, 5M rows); results in bench/results-large.md
	bench/large.sh

bench-api: services ## API req/s against the build before the key cache (bench/api.sh); results in bench/results-api.md
	bench/api.sh

chaos: services build ## fault-injection tests (real processes); also part of make test
	$(GO) test -count=1 -timeout 20m -tags chaos -run Chaos -v ./e2e/...

FUZZTIME ?= 10s
fuzz: services ## every fuzz target for FUZZTIME each (make fuzz FUZZTIME=10m for a long run)
	scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf $(BIN) var/blobs
