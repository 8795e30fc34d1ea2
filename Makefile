# sluice — build, test, demo, benchmarks, fuzzing.
GO      ?= go
BIN     := bin/sluice
FUZZTIME ?= 30s

.PHONY: build test demo bench bench-act bench-plan bench-python bench-server bench-containers bench-cd bench-deps bench-metrics bench-ui bench-scale bench-sandbox fuzz deps image

build:
	$(GO) build -o $(BIN) ./cmd/sluice

# go vet, then every package's tests, including the conformance suite (which
# builds the binary itself). `make deps` first installs what they need.
# The conformance suite runs every case through `sluice run` and `sluice serve`: more than
# go test's default 10 minutes per package on a loaded 2-core machine.
test:
	$(GO) vet ./...
	$(GO) test -timeout 30m ./... 2>&1

# The server's OCI image, built daemonless by sluice's own builder (internal/oci) on the
# server base that scripts/build-images.sh makes (git, ca-certificates, a sluice user):
# bin/sluice-image is an OCI layout; podman pull oci:bin/sluice-image loads it.
image:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/sluice-static ./cmd/sluice
	podman --url unix:///run/sluice-podman.sock save -o bin/server-base.tar localhost/sluice/server-base:12
	$(GO) run ./packaging/image -base bin/server-base.tar -binary bin/sluice-static -out bin/sluice-image

# Runs the bundled example in a scratch git repository, as a user would.
demo: build
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cp -R examples/demo/. "$$tmp/"; \
	cd "$$tmp"; \
	git init -q -b main; \
	git add -A; \
	git -c user.name=demo -c user.email=demo@example.com commit -q -m demo; \
	"$(CURDIR)/$(BIN)" run

# Both benchmarks: engine overhead against act (bench/results.md) and the
# Python seed workflow cold/warm against the bare tools (bench/results-python.md).
bench: bench-act bench-plan bench-python bench-containers bench-server bench-cd bench-deps bench-metrics bench-ui bench-scale bench-sandbox

bench-act:
	bash bench/run.sh

bench-python:
	bash bench/python.sh

# Planning a 256-leg run made through reusable workflows (bench/results-plan.md).
bench-plan:
	bash bench/plan.sh

# The server: webhook to first step, 1,000 queued jobs through 4 agents,
# memory (bench/results-server.md).
bench-server: build
	$(GO) run ./bench/server -sluice $(BIN) -out bench/results-server.md

bench-containers:
	bash bench/containers.sh

# The failed run page of a 20-job run with a 100,000-line failing log in
# headless Chromium: first error on screen, beside the page before issue 16
# built from its commit (bench/results-ui.md). Needs Chromium (make deps).
bench-ui: build
	$(GO) run ./bench/ui -sluice $(BIN) -out bench/results-ui.md

# Several replicas on Postgres against one SQLite server: 10,000 no-op jobs through 20
# agents, a replica killed every 10 s, webhook → first step on Postgres, the claim rate
# as claimers grow (bench/results-scale.md). Needs make deps (the PostgreSQL server).
bench-scale: build
	$(GO) run ./bench/server -scale -sluice $(BIN) -out bench/results-scale.md

# The sandbox's cost per step, per job and on the warm seed workflow, against
# the unsandboxed host in one run (bench/results-sandbox.md).
bench-sandbox:
	bash bench/sandbox.sh

# Continuous deployment: image build cold vs warm dependency layer, promotion
# (registry requests and bytes), rollback time, against Podman
# (bench/results-cd.md). Needs make deps and PyPI.
bench-cd:
	bash bench/cd.sh

# `sluice deps update` against `uv lock --upgrade` on 150 locked packages, warm caches, a local
# index (bench/results-deps.md). Needs PyPI for the tools.
bench-deps:
	bash bench/deps.sh

# Delivery metrics over a generated history of 100,000 runs, ~1,000,000 events
# and 5,000 deployments (kept in bench/.work/metrics), against replaying the
# whole event log (bench/results-metrics.md).
bench-metrics:
	$(GO) run ./bench/metrics -out bench/results-metrics.md

# Every fuzz target in the module, $(FUZZTIME) each.
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u); do \
	  for fn in $$(grep -h -o '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | sed 's/^func //'); do \
	    echo "==> $$dir $$fn"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done

# Idempotent: everything the tests need on a fresh Debian machine, installed
# only when missing (apt packages need root): bubblewrap, git, tmux (the live
# view's tests), Podman with
# its Docker-compatible API on /run/sluice-podman.sock, the locally built
# images (no registry is reachable), Chromium for the UI tests, and a PostgreSQL
# server on /run/sluice-postgres for the store suite's second pass and the replica tests, and
# an S3-compatible server (SeaweedFS, built once from its Go module) for the blob tests.
deps:
	@set -e; missing=""; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	command -v git >/dev/null 2>&1 || missing="$$missing git"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v pypy3 >/dev/null 2>&1 || missing="$$missing pypy3"; \
	command -v tmux >/dev/null 2>&1 || missing="$$missing tmux"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	    echo "deps: missing$$missing (not root or no apt-get; install them yourself)"; \
	  else \
	    echo "deps: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	fi
	@if [ "$$(id -u)" -eq 0 ]; then \
	  bash scripts/podman-setup.sh && bash scripts/build-images.sh && bash scripts/install-chromium.sh && \
	  bash scripts/postgres-setup.sh >/dev/null && bash scripts/s3-setup.sh >/dev/null; \
	else echo "deps: not root: skipping Podman, images, Chromium, PostgreSQL and S3 (their tests skip)"; fi
