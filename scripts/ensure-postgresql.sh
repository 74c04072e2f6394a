#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries (initdb, pg_ctl) are available for the PostgreSQL outbox tests.
# Uses PG_BINDIR or Debian's /usr/lib/postgresql/N/bin when present; as root, installs Debian's `postgresql`.
set -euo pipefail
found() {
  for dir in "${PG_BINDIR:-}" /usr/lib/postgresql/*/bin; do
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "postgresql: $dir"
      return 0
    fi
  done
  return 1
}
found && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "postgresql: installing Debian's postgresql package"
  apt-get update -qq
  # The tests start their own server; the package's default cluster is not needed.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  found && exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "postgresql: not found and cannot be installed (not root, or no apt-get); the PostgreSQL tests must run in CI" >&2
  exit 1
fi
echo "postgresql: not found; PostgreSQL tests will be skipped locally (install Debian's postgresql or set PG_BINDIR)" >&2
