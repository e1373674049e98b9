# contactd developer targets. `make help` lists them.

SHELL     := /bin/bash
GO        ?= go
# Extra flags for `make test`, e.g. make test TESTFLAGS='-run TestRouting -v'.
TESTFLAGS ?=
# Flags given to contactd by `make run`, e.g. make run RUNFLAGS='--log-level debug'.
RUNFLAGS  ?=

.PHONY: help run build test bench loadtest sipload lint fmt

help:
	@echo 'make run    start a demo instance on the embedded store in ./data'
	@echo 'make build  build bin/contactd (and bin/ccload)'
	@echo 'make test   run every test with -race; set REQUIRE_POSTGRES=1, REQUIRE_BROWSER=1,'
	@echo '            REQUIRE_SIPP=1 to fail instead of skip when one is missing'
	@echo 'make bench  run the benchmarks (and the benchmark report), then make loadtest'
	@echo 'make loadtest  contactd under load from ccload on this machine (scripts/loadtest.sh)'
	@echo 'make sipload  SIP load: sipp callers to agent phones, phone calls with RTP (scripts/sipload.sh; needs sipp)'
	@echo 'make lint   go vet and staticcheck'
	@echo 'make fmt    gofmt -w every Go file'

run:
	$(GO) run ./cmd/contactd --demo --data-dir ./data $(RUNFLAGS)

build:
	$(GO) build -o bin/contactd ./cmd/contactd
	@if [ -d cmd/ccload ]; then echo '$(GO) build -o bin/ccload ./cmd/ccload'; $(GO) build -o bin/ccload ./cmd/ccload; fi

# The environment (TEST_DATABASE_URL, REQUIRE_*) reaches the tests unchanged.
test:
	$(GO) test -race -count=1 -timeout 30m $(TESTFLAGS) ./...

# Benchmarks: routing decisions on one core (-cpu 1), memory per waiting
# interaction, arrival-to-offer latency through the event loop, and the
# store's group commit against one-row transactions (PostgreSQL). The
# figures, with the machine and GOMAXPROCS, go to docs/BENCHMARKS.md.
BENCH_OUT ?= bench.out
bench:
	@set -o pipefail; { \
	  $(GO) test -run '^$$' -bench 'Decisions' -benchtime=300000x -count=3 -cpu 1 -benchmem ./routing/ && \
	  $(GO) test -run '^$$' -bench 'MemoryPerWaiting' -benchtime=3x -cpu 1 ./routing/ && \
	  $(GO) test -run '^$$' -bench 'ArrivalToOffer' -benchtime=1x -cpu 1,2 ./routing/ && \
	  $(GO) test -run '^$$' -bench . -benchtime=2s -cpu 2 ./internal/store/... && \
	  MEDIA_BENCH_PAIRS=200 MEDIA_BENCH_SECONDS=10 $(GO) test -run '^$$' -bench Forward -benchtime=1x -cpu 1 ./media/ ; \
	} | tee $(BENCH_OUT)
	$(GO) run ./cmd/benchreport -in $(BENCH_OUT) -out docs/BENCHMARKS.md -note "$(BENCH_NOTE)"
	@$(MAKE) --no-print-directory loadtest

# Load test: contactd driven by cmd/ccload over real WebSockets (chat at a
# few sizes, 10,000 idle connections), both processes on this machine. The
# table goes to the "Load (ccload)" section of docs/BENCHMARKS.md; sizes
# and the PostgreSQL run are set in scripts/loadtest.sh.
loadtest:
	BENCH_NOTE="$(BENCH_NOTE)" GO="$(GO)" ./scripts/loadtest.sh

# SIP load test: sipp callers through contactd's trunk to agents' phones
# (signaling, with sipp to sipp directly in the same run for the ratio),
# and phone calls with RTP to agents in the browser and on phones (media).
# Needs sipp (Debian sip-tester). Sizes in scripts/sipload.sh; the figures
# go to the "SIP" section of docs/BENCHMARKS.md.
sipload:
	BENCH_NOTE="$(BENCH_NOTE)" GO="$(GO)" ./scripts/sipload.sh

lint:
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fmt:
	gofmt -w .
