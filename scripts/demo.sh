#!/usr/bin/env bash
# Set up, then reconcile a generated demo project end to end on the embedded defaults:
# init -> validate -> plan -> apply -> hand-made drift -> drift detected -> healed -> status.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${GITCOPS_DEMO_SKIP_SETUP:-}" ] || bash scripts/setup.sh   # tests skip it: already set up
GITCOPS="$PWD/.venv/bin/gitcops"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gitcops-demo.XXXXXX")"
export GITCOPS_STATE="$WORK/state.db"   # keep the demo's state out of your own
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "gitcops init $WORK/project"
"$GITCOPS" init "$WORK/project"
cd "$WORK/project"

step "gitcops validate"
"$GITCOPS" validate

step "gitcops plan --env dev"
"$GITCOPS" plan --env dev

step "gitcops apply --env dev --yes"
"$GITCOPS" apply --env dev --yes
find out/dev | sort

step "a hand-made drift: edit a managed file and delete another"
echo "edited by hand" > out/dev/etc/motd
rm out/dev/www/index.html

step "gitcops drift --env dev (exit 2: drift found)"
"$GITCOPS" drift --env dev || [ $? -eq 2 ]

step "gitcops apply --env dev --yes (heals it)"
"$GITCOPS" apply --env dev --yes
"$GITCOPS" drift --env dev

step "gitcops status"
"$GITCOPS" status

step "gitcops history"
"$GITCOPS" history

step "gitcops audit verify"
"$GITCOPS" audit verify
printf '\nDemo project left in %s\n' "$WORK/project"
