#!/usr/bin/env bash
# Set up, then reconcile a generated demo project end to end on the embedded defaults:
# init -> validate -> plan -> apply -> a secret from a SOPS file -> hand-made drift -> drift
# detected -> healed -> status.
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

step "gitcops secrets keygen: an age identity, kept outside the repository"
export SOPS_AGE_KEY_FILE="$WORK/age.key"
RECIPIENT="$("$GITCOPS" secrets keygen --output "$SOPS_AGE_KEY_FILE")"

step "gitcops secrets encrypt: a SOPS file in Git, and a File whose content comes from it"
mkdir -p secrets
printf 'password: demo-password-%s\n' "$RANDOM$RANDOM" > secrets/db.sops.yaml
"$GITCOPS" secrets encrypt secrets/db.sops.yaml --age "$RECIPIENT"
cat > base/db.yaml <<'YAML'
apiVersion: local.gitcops.io/v1
kind: File
metadata: {name: db-password}
spec:
  path: etc/db.pass
  mode: "0600"
  content:
    valueFrom:
      secretRef: {file: ../secrets/db.sops.yaml, key: password}
YAML
printf '  - db.yaml\n' >> base/kustomization.yaml
git add --all
git -c user.name=gitcops-demo -c user.email=demo@example.invalid commit --quiet -m "db password"

step "gitcops plan --env dev (a secret is never shown, stored or logged)"
"$GITCOPS" plan --env dev
"$GITCOPS" apply --env dev --yes

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
