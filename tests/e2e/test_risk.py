"""The risk score through the CLI: in `plan -o json`, seen by plan policies as input.risk, and
fed by what changed since the last apply and by the run history."""

from __future__ import annotations

import json

from conftest import Cli, Repo, dump, file_doc


def risk_of(cli: Cli, repo: Repo, env: str = "dev") -> dict[str, object]:
    out = cli("plan", "--env", env, "-o", "json", repo=repo.path).stdout
    risk: dict[str, object] = json.loads(out)["risk"]
    return risk


def factors(risk: dict[str, object]) -> dict[str, int]:
    return {f["name"]: f["points"] for f in risk["factors"]}  # type: ignore[attr-defined,index]


def test_the_plan_carries_its_risk_with_reasons(cli: Cli, repo: Repo) -> None:
    docs = [file_doc(f"f{i}", f"etc/f{i}") for i in range(8)]
    repo.set_resources(docs)
    assert factors(risk_of(cli, repo)) == {"size": 5}
    assert factors(risk_of(cli, repo, "prod")) == {"environment": 20, "size": 5}
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources(docs[:6])
    risk = risk_of(cli, repo)
    assert factors(risk) == {"deletions": 16}
    assert risk["score"] == 16


def test_a_plan_policy_can_refuse_by_risk(cli: Cli, repo: Repo) -> None:
    repo.write(
        "policies/risk.rego",
        """package plan

import rego.v1

deny contains msg if {
    input.risk.score >= 20
    msg := sprintf("risk %d needs a change window", [input.risk.score])
}
""",
    )
    repo.set_resources([file_doc("a", "etc/a")])
    cli("plan", "--env", "dev", repo=repo.path)  # dev: risk 0
    refused = cli("plan", "--env", "prod", repo=repo.path, expect=1)
    assert "risk 20 needs a change window" in refused.output


def test_changed_rules_and_failures_raise_the_risk(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("a", "etc/a"), file_doc("b", "etc/b")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.write(
        "policies/ok.rego",
        'package main\n\nimport rego.v1\n\ndeny contains m if { false; m := "" }\n',
    )
    repo.write(
        "base/resources.yaml", dump([file_doc("a", "etc/a", "changed\n"), file_doc("b", "etc/b")])
    )
    repo.commit("a new policy")
    risk = risk_of(cli, repo)
    assert factors(risk)["configuration"] == 15
    assert any("policies" in f["why"] for f in risk["factors"])  # type: ignore[attr-defined]
    # b fails to be written (a directory stands in its way): its failure rate counts.
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    (repo.root / "etc" / "b").unlink()
    (repo.root / "etc" / "b").mkdir()
    repo.write(
        "base/resources.yaml",
        dump([file_doc("a", "etc/a", "changed\n"), file_doc("b", "etc/b", "new\n")]),
    )
    repo.commit("b changes")
    cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert factors(risk_of(cli, repo))["failures"] == 8  # failed in 1 of 2 runs touching it


def test_adding_environments_after_prod_does_not_lower_its_risk(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("a", "etc/a")])
    cli("apply", "--env", "prod", "--yes", repo=repo.path)
    more = (
        (repo.path / "gitcops.yaml")
        .read_text()
        .replace(
            "  providers:\n    local:",
            "    - {name: later1, path: environments/prod}\n"
            "    - {name: later2, path: environments/prod}\n  providers:\n    local:",
        )
    )
    repo.write("gitcops.yaml", more)
    repo.write("base/resources.yaml", dump([file_doc("a", "etc/a", "changed\n")]))
    repo.commit("two environments after prod")
    assert factors(risk_of(cli, repo, "prod"))["environment"] == 20  # the trusted order's
