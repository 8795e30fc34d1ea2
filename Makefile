# sluice — build, test, demo, benchmarks, fuzzing.
GO      ?= go
BIN     := bin/sluice
FUZZTIME ?= 30s

.PHONY: build test demo bench bench-act bench-python bench-server bench-containers bench-cd bench-sandbox fuzz deps

build:
	$(GO) build -o $(BIN) ./cmd/sluice

# go vet, then every package's tests, including the conformance suite (which
# builds the binary itself). `make deps` first installs what they need.
test:
	$(GO) vet ./...
	$(GO) test ./... 2>&1

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
bench: bench-act bench-python bench-containers bench-server bench-cd bench-sandbox

bench-act:
	bash bench/run.sh

bench-python:
	bash bench/python.sh

# The server: webhook to first step, 1,000 queued jobs through 4 agents,
# memory (bench/results-server.md).
bench-server: build
	$(GO) run ./bench/server -sluice $(BIN) -out bench/results-server.md

bench-containers:
	bash bench/containers.sh

# The sandbox's cost per step, per job and on the warm seed workflow, against
# the unsandboxed host in one run (bench/results-sandbox.md).
bench-sandbox:
	bash bench/sandbox.sh

# Continuous deployment: image build cold vs warm dependency layer, promotion
# (registry requests and bytes), rollback time, against Podman
# (bench/results-cd.md). Needs make deps and PyPI.
bench-cd:
	bash bench/cd.sh

# Every fuzz target in the module, $(FUZZTIME) each.
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u); do \
	  for fn in $$(grep -h -o '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | sed 's/^func //'); do \
	    echo "==> $$dir $$fn"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done

# Idempotent: everything the tests need on a fresh Debian machine, installed
# only when missing (apt packages need root): bubblewrap and git, Podman with
# its Docker-compatible API on /run/sluice-podman.sock, the locally built
# images (no registry is reachable), and Chromium for the UI tests.
deps:
	@set -e; missing=""; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	command -v git >/dev/null 2>&1 || missing="$$missing git"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v pypy3 >/dev/null 2>&1 || missing="$$missing pypy3"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	    echo "deps: missing$$missing (not root or no apt-get; install them yourself)"; \
	  else \
	    echo "deps: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	fi
	@if [ "$$(id -u)" -eq 0 ]; then \
	  bash scripts/podman-setup.sh && bash scripts/build-images.sh && bash scripts/install-chromium.sh; \
	else echo "deps: not root: skipping Podman, images and Chromium (their tests skip)"; fi
