#!/usr/bin/env bash
# Makes a real S3-compatible server answer on 127.0.0.1 for the tests and benchmarks: SeaweedFS
# (master, volume, filer and its S3 gateway in one `weed server` process), built from its Go
# module (the module proxy is reachable; no release binary is), with one access key so requests
# are signed and checked as on AWS. Writes how to reach it to $DIR/client (endpoint, access_key,
# secret_key), which internal/testenv reads. Idempotent: builds once per version, starts the
# server only when it does not answer. Tests make their own buckets.
set -euo pipefail

VERSION="${SLUICE_WEED_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
DIR="${SLUICE_S3_DIR:-/var/tmp/sluice-s3}"
BINDIR="${SLUICE_S3_BINDIR:-/usr/local/lib/sluice}"
# A shared service, like the Podman socket and the PostgreSQL server: fixed ports in a high
# range, overridable; tests never bind these themselves.
S3_PORT="${SLUICE_S3_PORT:-18333}"
MASTER_PORT="${SLUICE_S3_MASTER_PORT:-19333}"
VOLUME_PORT="${SLUICE_S3_VOLUME_PORT:-18380}"
FILER_PORT="${SLUICE_S3_FILER_PORT:-18888}"
WEED="$BINDIR/weed-$VERSION"

say() { echo "s3-setup: $*" >&2; }

command -v go >/dev/null 2>&1 || { say "go is needed to build SeaweedFS"; exit 1; }
command -v curl >/dev/null 2>&1 || { say "curl is needed (make deps installs it with Podman)"; exit 1; }

if [ ! -x "$WEED" ]; then
  say "building SeaweedFS $VERSION (once; several minutes)"
  src="$(go mod download -json "github.com/seaweedfs/seaweedfs@$VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || { say "could not download github.com/seaweedfs/seaweedfs@$VERSION"; exit 1; }
  # Built as the main module (in a copy) because its go.mod has a replace directive, which
  # `go install pkg@version` refuses.
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  cp -R "$src/." "$work/"
  chmod -R u+w "$work"
  mkdir -p "$BINDIR"
  (cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$WEED.tmp" ./weed)
  mv "$WEED.tmp" "$WEED"
fi

mkdir -p "$DIR/data" "$DIR/client"
chmod 0755 "$DIR" "$DIR/client"
# Test credentials for a test server on loopback: not secrets, but kept in files the way
# sluice takes real ones (--blob s3://…&access_key_file=…&secret_key_file=…).
[ -s "$DIR/client/access_key" ] || echo "sluice-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" >"$DIR/client/access_key"
[ -s "$DIR/client/secret_key" ] || od -An -N20 -tx1 /dev/urandom | tr -d ' \n' >"$DIR/client/secret_key"
chmod 0644 "$DIR/client/access_key" "$DIR/client/secret_key"
ak="$(tr -d '\n' <"$DIR/client/access_key")"
sk="$(tr -d '\n' <"$DIR/client/secret_key")"
conf="{\"identities\":[{\"name\":\"sluice\",\"credentials\":[{\"accessKey\":\"$ak\",\"secretKey\":\"$sk\"}],\"actions\":[\"Admin\",\"Read\",\"List\",\"Tagging\",\"Write\"]}]}"
changed=0
if [ "$(cat "$DIR/s3.json" 2>/dev/null)" != "$conf" ]; then
  printf '%s' "$conf" >"$DIR/s3.json"
  chmod 0600 "$DIR/s3.json"
  changed=1
fi
echo "127.0.0.1:$S3_PORT" >"$DIR/client/endpoint"

PIDFILE="$DIR/weed.pid"
running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
# Any HTTP answer from the gateway (an S3 error document for an anonymous request) will do.
answers() { [ -n "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/" 2>/dev/null | grep -v '^000$')" ]; }

if running && { [ "$changed" = 1 ] || [ "$(readlink "$DIR/weed.bin" 2>/dev/null)" != "$WEED" ]; }; then
  say "restarting the server (pid $(cat "$PIDFILE")) for a new configuration or version"
  kill "$(cat "$PIDFILE")"
  for _ in $(seq 1 100); do running || break; sleep 0.1; done
fi

if running && answers; then
  say "S3 gateway already answering on 127.0.0.1:$S3_PORT"
else
  ln -sfn "$WEED" "$DIR/weed.bin"
  say "starting SeaweedFS with its S3 gateway on 127.0.0.1:$S3_PORT (log: $DIR/weed.log)"
  setsid nohup "$WEED" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$DIR/data" \
    -master.port="$MASTER_PORT" -master.volumeSizeLimitMB=256 \
    -volume.port="$VOLUME_PORT" -volume.max=64 \
    -filer -filer.port="$FILER_PORT" \
    -s3 -s3.port="$S3_PORT" -s3.config="$DIR/s3.json" \
    >>"$DIR/weed.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 300); do
    answers && break
    sleep 0.2
  done
  if ! answers; then
    say "S3 gateway did not answer on 127.0.0.1:$S3_PORT; last log lines:"
    tail -n 30 "$DIR/weed.log" >&2 || true
    exit 1
  fi
  say "S3 gateway answering on 127.0.0.1:$S3_PORT"
fi

echo "SLUICE_TEST_S3=$DIR/client"
