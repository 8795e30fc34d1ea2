#!/usr/bin/env bash
# Installs Debian's chromium for the web UI's browser tests
# (internal/server/ui_browser_test.go, driven with chromedp). Idempotent: does
# nothing when a chromium is already on PATH. Needs root and apt-get; prints
# what to do otherwise and exits 0, so the tests then skip (or fail under
# SLUICE_REQUIRE_BROWSER=1).
set -euo pipefail

for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then
    echo "install-chromium: $b already installed ($("$b" --version 2>/dev/null | tail -n1))"
    exit 0
  fi
done

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: not root or no apt-get; install chromium yourself to run the browser tests"
  exit 0
fi

echo "install-chromium: installing chromium"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
chromium --version
