#!/usr/bin/env bash
# Set up from nothing and run every check: lint, format, types, layering, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# kubectl (with kustomize v5) is the oracle for overlay conformance; without it those tests skip.
# Debian's kubernetes-client package is too old (kustomize v2), so it is not installed here.
.venv/bin/pytest -n 2 "$@"
