#!/usr/bin/env bash
# Create .venv and install gitcops with its development tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
if ! command -v git >/dev/null; then
  echo "git is required" >&2
  exit 1
fi
# PostgreSQL's server binaries, for the tests that start a real server (tests/e2e/pg_server.py,
# which searches the same places). Debian keeps them off PATH, under /usr/lib/postgresql/<N>/bin.
have_initdb() {
  { [ -n "${GITCOPS_PG_BIN:-}" ] && [ -x "$GITCOPS_PG_BIN/initdb" ]; } ||
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ||
    command -v initdb >/dev/null
}
if ! have_initdb && command -v apt-get >/dev/null; then
  as_root=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then
    as_root="sudo"
  fi
  install_postgresql() {
    $as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  }
  # The package lists may be missing or stale (fresh containers ship none): refresh only then.
  if ! install_postgresql 2>/dev/null; then
    $as_root apt-get update -qq >/dev/null
    install_postgresql
  fi
fi
