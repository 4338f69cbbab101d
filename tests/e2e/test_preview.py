"""`gitcops preview`: the merge-request view, against a golden file, and its JSON and exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from conftest import Cli, Repo, encrypt_values, file_doc, new_repo, secret_ref

from gitcops.schemas import output_validator

GOLDEN = Path(__file__).parent / "golden" / "preview.md"

PROJECT = """\
apiVersion: gitcops.io/v1
kind: Project
metadata: {name: shop}
spec:
  environments:
    - {name: dev, path: env}
  providers:
    local: {root: ./out}
"""

WARN = """\
package main

import rego.v1

warn contains msg if {
    input.kind == "File"
    not input.spec.mode
    msg := sprintf("%s has no explicit mode", [input.metadata.name])
}
"""


def make_repo(tmp_path: Path) -> Repo:
    return new_repo(tmp_path / "repo", PROJECT)


def docs(a: str, with_c: bool, with_d: bool) -> list[dict[str, object]]:
    out = [
        file_doc("a", "etc/a", a, mode="0644"),
        file_doc("b", "etc/b", "b\n", mode="0644"),
        file_doc(
            "token",
            "etc/token",
            mode="0600",
            **{"content": secret_ref("secrets.sops.yaml", "token")},
        ),
    ]
    if with_c:
        out.append(file_doc("c", "etc/c", "c\n", mode="0644"))
    if with_d:
        out.append(file_doc("d", "etc/d", "d\n"))  # no mode: the policy warns
    return out


def scenario(tmp_path: Path, keyed: tuple[Cli, str]) -> tuple[Cli, Repo, str, str]:
    cli, recipient = keyed
    repo = make_repo(tmp_path)
    encrypt_values(cli, repo, "env/secrets.sops.yaml", {"token": "first-Secret-value"}, recipient)
    repo.write("env/resources.yaml", yaml.safe_dump_all(docs("a\n", True, False), sort_keys=False))
    base = repo.commit("base")
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.git("checkout", "--quiet", "-b", "feature")
    encrypt_values(cli, repo, "env/secrets.sops.yaml", {"token": "second-Secret-value"}, recipient)
    repo.write(
        "env/resources.yaml", yaml.safe_dump_all(docs("a, changed\n", False, True), sort_keys=False)
    )
    repo.write("policies/modes.rego", WARN)
    head = repo.commit("feature")
    return cli, repo, base, head


def normalised(text: str, base: str, head: str) -> str:
    return text.replace(base[:12], "BASE").replace(head[:12], "HEAD")


def test_the_markdown_matches_the_golden_file(tmp_path: Path, keyed: tuple[Cli, str]) -> None:
    cli, repo, base, head = scenario(tmp_path, keyed)
    shown = cli("preview", "--base", base, "--head", head, repo=repo.path)
    text = normalised(shown.stdout, base, head)
    if os.environ.get("GITCOPS_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    assert "Secret-value" not in shown.output


def test_json_follows_its_schema_and_policy_failures_exit_1(
    tmp_path: Path, keyed: tuple[Cli, str]
) -> None:
    cli, repo, base, head = scenario(tmp_path, keyed)
    out = cli("preview", "--base", base, "--head", head, "-o", "json", repo=repo.path).stdout
    document = json.loads(out)
    errors = sorted(output_validator("Preview").iter_errors(document), key=str)
    assert not errors, errors
    (env,) = document["environments"]
    assert {d["status"] for d in env["documents"]} == {"added", "changed", "removed"}
    assert env["plan"]["summary"]["update"] == 2  # a, and the token's new secret
    repo.write(
        "policies/deny.rego",
        'package main\n\nimport rego.v1\n\ndeny contains "no" if { input.metadata.name == "d" }\n',
    )
    worse = repo.commit("a denied document")
    failed = cli(
        "preview", "--base", base, "--head", worse, "-o", "sarif", repo=repo.path, expect=1
    )
    assert json.loads(failed.stdout)["runs"][0]["results"]
    assert "policy failures" in failed.stderr


def test_without_a_state_store_the_rendered_change_is_shown(
    tmp_path: Path, keyed: tuple[Cli, str]
) -> None:
    cli, repo, base, head = scenario(tmp_path, keyed)
    env = dict(cli.env)
    cli.env["XDG_STATE_HOME"] = str(tmp_path / "elsewhere")
    argv = ["preview", "--base", base, "--head", head, "--repo", str(repo.path)]
    import subprocess

    from conftest import GITCOPS

    done = subprocess.run([GITCOPS, *argv], capture_output=True, text=True, env=cli.env)
    cli.env = env
    assert done.returncode == 0, done.stderr
    assert "_Plan against live state: no state store here (give --state)" in done.stdout
    assert "| dev | 1 added, 2 changed, 1 removed | not available |" in done.stdout


def test_a_change_that_only_lowers_the_gate_is_shown_and_judged_by_the_old_rules(
    tmp_path: Path, cli: Cli
) -> None:
    repo = make_repo(tmp_path)
    gated = PROJECT.replace(
        "    - {name: dev, path: env}",
        "    - {name: dev, path: env, approvals: {required: 2, allowedSigners: signers}}",
    )
    repo.write("gitcops.yaml", gated)
    repo.write("signers", "")
    repo.write("env/resources.yaml", yaml.safe_dump(file_doc("a", "etc/a")))
    base = repo.commit("gated")
    repo.write("gitcops.yaml", PROJECT)
    head = repo.commit("ungated")
    out = cli("preview", "--base", base, "--head", head, "-o", "json", repo=repo.path).stdout
    (env,) = json.loads(out)["environments"]
    assert env["documents"] == [] and env["affected"] is True
    assert env["gateChanges"] == ["approval rules", "approvers' keys"]
    assert env["approvals"]["required"] == 2  # the base's rules, not the head's
    text = cli("preview", "--base", base, "--head", head, repo=repo.path).stdout
    assert "| dev | gates changed |" in text and "**Gates changed:** approval rules" in text
