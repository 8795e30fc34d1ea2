#!/usr/bin/env bash
# Continuous deployment (issue 7): image build cold vs warm dependency layer,
# promotion of an image release (registry requests and bytes), rollback to a
# healthy previous container — sluice (internal/oci, internal/deploy) side by
# side with podman build / podman push / podman rm + run, in one run.
# Needs scripts/podman-setup.sh and scripts/build-images.sh (make deps) and
# PyPI for the cold builds. Writes bench/results-cd.md. Extra arguments go to
# the Go program (bench/cd), e.g. -rollbacks 9 -build-runs 3.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
sock=/run/sluice-podman.sock
image=localhost/sluice/python:3.11
export DOCKER_HOST="unix://$sock"

curl -sf --unix-socket "$sock" http://d/_ping >/dev/null || { log "no Podman API on $sock: run scripts/podman-setup.sh"; exit 1; }
podman image exists "$image" || { log "$image missing: run scripts/build-images.sh"; exit 1; }
cd "$root"
log "building bench/cd"
mkdir -p "$here/.work/cd"
go build -o "$here/.work/cd/bench-cd" ./bench/cd
"$here/.work/cd/bench-cd" -socket "$DOCKER_HOST" -work "$here/.work/cd" -out "$here/results-cd.md" "$@"
