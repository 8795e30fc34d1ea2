#!/usr/bin/env bash
# Makes a Docker-compatible engine answer on a unix socket on a fresh Debian 12
# machine: installs Podman and runc, writes the containers.conf this machine
# needs (crun refuses its hybrid cgroups; there is no systemd), starts
# `podman system service` when the socket does not answer, and prints the
# DOCKER_HOST to use. Idempotent: safe to run again.
set -euo pipefail

SOCK="${SLUICE_PODMAN_SOCK:-/run/sluice-podman.sock}"
CONF=/etc/containers/containers.conf
LOG="${SLUICE_PODMAN_LOG:-/var/log/sluice-podman.log}"
PIDFILE="${SOCK%.sock}.pid"

say() { echo "podman-setup: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  say "must run as root (installs packages, writes $CONF, serves $SOCK)"
  exit 1
fi

missing=""
command -v podman >/dev/null 2>&1 || missing="$missing podman"
command -v runc >/dev/null 2>&1 || missing="$missing runc"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
# netavark with aardvark-dns: services must resolve by name on a job network
# (the CNI backend has no DNS without an extra plugin).
[ -x /usr/lib/podman/netavark ] || missing="$missing netavark"
[ -x /usr/lib/podman/aardvark-dns ] || missing="$missing aardvark-dns"
if [ -n "$missing" ]; then
  say "installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -qq --no-install-recommends $missing uidmap slirp4netns iptables >/dev/null
fi

want='# Written by sluice scripts/podman-setup.sh.
[containers]
# The default ulimits (nofile, nproc) exceed what this machine allows.
default_ulimits = []

[engine]
# crun refuses the hybrid cgroup layout; runc works.
runtime = "runc"
# No systemd: cgroups are managed directly and events go to a file.
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"'
mkdir -p "$(dirname "$CONF")"
changed=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$want" ]; then
  say "writing $CONF"
  printf '%s\n' "$want" >"$CONF"
  changed=1
fi

ping_ok() { [ "$(curl -s -m 2 --unix-socket "$SOCK" http://d/_ping 2>/dev/null)" = "OK" ]; }

# A service this script started earlier must restart to read a new config.
if [ "$changed" = 1 ] && [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  say "restarting the service (pid $(cat "$PIDFILE")) for the new configuration"
  kill "$(cat "$PIDFILE")"
  for _ in $(seq 1 50); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.1; done
fi

if ping_ok; then
  say "engine already answering on $SOCK"
else
  rm -f "$SOCK"
  say "starting podman system service on $SOCK (log: $LOG)"
  # setsid: the service must outlive this script and its caller's process group.
  setsid nohup podman system service --time=0 "unix://$SOCK" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do
    ping_ok && break
    sleep 0.1
  done
  if ! ping_ok; then
    say "engine did not answer on $SOCK; last log lines:"
    tail -n 20 "$LOG" >&2 || true
    exit 1
  fi
  say "engine answering on $SOCK"
fi

echo "DOCKER_HOST=unix://$SOCK"
