#!/usr/bin/env bash
# Make sure headless Chromium is available for the browser tests.
# Uses CHROMIUM_PATH or /usr/bin/chromium when present; as root, installs Debian's `chromium` package.
set -euo pipefail
existing="${CHROMIUM_PATH:-}"
for candidate in "$existing" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    echo "chromium: $candidate"
    exit 0
  fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium: installing Debian's chromium package"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "chromium: not found and cannot be installed (not root, or no apt-get); the browser tests must run in CI" >&2
  exit 1
fi
echo "chromium: not found; browser tests will be skipped locally (install Debian's chromium or set CHROMIUM_PATH)" >&2
