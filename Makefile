# sluice — build, test, demo, benchmarks, fuzzing.
GO      ?= go
BIN     := bin/sluice
FUZZTIME ?= 30s

.PHONY: build test demo bench bench-act bench-python fuzz deps

build:
	$(GO) build -o $(BIN) ./cmd/sluice

# go vet, then every package's tests, including the conformance suite (which
# builds the binary itself). Installs nothing.
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
bench: bench-act bench-python

bench-act:
	bash bench/run.sh

bench-python:
	bash bench/python.sh

# Every fuzz target in the module, $(FUZZTIME) each.
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u); do \
	  for fn in $$(grep -h -o '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | sed 's/^func //'); do \
	    echo "==> $$dir $$fn"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$dir; \
	  done; \
	done

# Idempotent: installs bubblewrap and git with apt-get only when missing and
# only when running as root.
deps:
	@set -e; missing=""; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	command -v git >/dev/null 2>&1 || missing="$$missing git"; \
	if [ -z "$$missing" ]; then echo "deps: all present"; exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "deps: missing$$missing (not root or no apt-get; install them yourself)"; exit 0; fi; \
	echo "deps: installing$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing

# Container engine and images for the container executor, then its tests
# against them (as root on Debian 12): Podman's Docker-compatible service on
# /run/sluice-podman.sock, the locally built images (cached), and
# `go test ./internal/executor/container` failing rather than skipping.
.PHONY: containers
containers:
	bash scripts/podman-setup.sh
	bash scripts/build-images.sh
	DOCKER_HOST=unix:///run/sluice-podman.sock SLUICE_REQUIRE_CONTAINERS=1 $(GO) test ./internal/executor/container
