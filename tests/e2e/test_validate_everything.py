"""One validate run lists schema problems, policy results and plaintext secrets together."""

from __future__ import annotations

import json

from conftest import Cli, Repo, file_doc

DENY_MOTD = """package main

import rego.v1

deny contains msg if {
    input.metadata.name == "motd"
    msg := "motd is forbidden here"
}
"""
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzQ3kP9vT2s"


def test_every_kind_of_problem_is_reported_in_one_run(cli: Cli, repo: Repo) -> None:
    repo.write("policies/motd.rego", DENY_MOTD)
    bad = file_doc("broken", "broken.txt", mode="999")  # not an octal mode: a schema problem
    leaky = file_doc("leaky", "leaky.txt", f"aws_secret_access_key = {AWS_SECRET}\n")
    repo.set_resources([file_doc("motd", "etc/motd"), bad, leaky])

    text = cli("validate", "--env", "dev", repo=repo.path, expect=1)
    assert "spec.mode" in text.stderr  # the schema problem
    assert "motd is forbidden here" in text.output  # a policy denial on another document
    assert "leaky" in text.output and "plain text" in text.output  # a secret in a third

    data = json.loads(
        cli("validate", "--env", "dev", "-o", "json", repo=repo.path, expect=1).stdout
    )
    assert data["valid"] is False
    assert any(d["path"] == "spec.mode" for d in data["diagnostics"]), data["diagnostics"]
    rules = {f["rule"] for f in data["findings"]}
    assert "main.deny" in rules
    assert "builtin.plaintext_secrets" in rules
    resources = {f.get("resource") for f in data["findings"]}
    assert "local.gitcops.io/File/broken" not in resources  # not checkable: its schema failed
    assert data["environments"] == {"dev": 2}
