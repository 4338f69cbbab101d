"""`gitcops init`: a small working project, committed, that shows every stage of the loop."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitcops.model.errors import GitcopsError

FILES: dict[str, str] = {
    ".gitignore": "out/\n",
    "gitcops.yaml": """\
apiVersion: gitcops.io/v1
kind: Project
metadata:
  name: demo
spec:
  environments:            # order = promotion order
    - name: dev
      path: environments/dev
      drift: heal
      providers:
        local: {root: ./out/dev}
    - name: prod
      path: environments/prod
      drift: warn
      providers:
        local: {root: ./out/prod}
  providers:
    local: {root: ./out}
""",
    "base/kustomization.yaml": """\
resources:
  - site.yaml
  - checks.yaml
""",
    "base/site.yaml": """\
apiVersion: local.gitcops.io/v1
kind: Directory
metadata:
  name: etc
spec:
  path: etc
---
apiVersion: local.gitcops.io/v1
kind: File
metadata:
  name: motd
  labels: {tier: web}
  annotations:
    config.kubernetes.io/depends-on: local.gitcops.io/Directory/etc
spec:
  path: etc/motd
  content: "hello from gitcops\\n"
  mode: "0644"
---
apiVersion: local.gitcops.io/v1
kind: Directory
metadata:
  name: www
spec:
  path: www
  mode: "0755"
---
apiVersion: local.gitcops.io/v1
kind: File
metadata:
  name: index
  labels: {tier: web}
spec:
  path: www/index.html
  source: files/index.html
  mode: "0644"
---
apiVersion: local.gitcops.io/v1
kind: Symlink
metadata:
  name: current
spec:
  path: current
  target: www
""",
    "base/files/index.html": "<!doctype html>\n<h1>Deployed by gitcops</h1>\n",
    "base/checks.yaml": """\
apiVersion: local.gitcops.io/v1
kind: HealthCheck
metadata:
  name: site-ready
  annotations:
    config.kubernetes.io/depends-on: local.gitcops.io/File/index
spec:
  command:
    argv: [test, -s, www/index.html]
  timeoutSeconds: 5
  retries: 2
  intervalSeconds: 0.5
""",
    "environments/dev/kustomization.yaml": """\
resources:
  - ../../base
commonLabels:
  env: dev
patches:
  - patch: |-
      apiVersion: local.gitcops.io/v1
      kind: File
      metadata:
        name: motd
      spec:
        content: "hello from dev\\n"
""",
    "environments/prod/kustomization.yaml": """\
resources:
  - ../../base
labels:
  - pairs:
      env: prod
commonAnnotations:
  owner: sre
patches:
  - target:
      kind: File
      name: motd
    patch: |-
      - op: replace
        path: /spec/mode
        value: "0640"
""",
}


def scaffold(directory: Path) -> list[str]:
    if directory.exists() and not directory.is_dir():
        raise GitcopsError(f"{directory} exists and is not a directory")
    if directory.exists() and any(directory.iterdir()):
        raise GitcopsError(f"{directory} is not empty; choose a new directory")
    for rel, text in FILES.items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    _git(directory, "init", "--quiet", "--initial-branch=main")
    _git(directory, "add", "--all")
    identity: list[str] = []
    if not _has_identity(directory):
        identity = ["-c", "user.name=gitcops", "-c", "user.email=gitcops@localhost"]
    _git(directory, *identity, "commit", "--quiet", "--message", "Initial gitcops project")
    return sorted(FILES)


def _has_identity(directory: Path) -> bool:
    """Commit as the user when git knows who that is; as 'gitcops' otherwise."""
    done = subprocess.run(
        ["git", "var", "GIT_COMMITTER_IDENT"], cwd=directory, capture_output=True, check=False
    )
    return done.returncode == 0


def _git(directory: Path, *args: str) -> None:
    done = subprocess.run(
        ["git", *args], cwd=directory, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise GitcopsError(f"git {args[0]}: {done.stderr.strip()}")
