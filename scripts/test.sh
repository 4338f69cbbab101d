#!/usr/bin/env bash
# Set up from nothing and run every check: lint, format, types, layering, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v kubectl >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # kubectl is the conformance oracle for overlays; Debian ships it as a package.
  (apt-get update -qq && apt-get install -y -qq kubernetes-client) >/dev/null 2>&1 || true
fi
.venv/bin/pytest -n 2 "$@"
