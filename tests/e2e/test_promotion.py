"""Promotion between environments: what dev verified and kept healthy for the soak time, and
nothing else, reaches prod. Time passes by moving dev's recorded runs back, never by sleeping."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import yaml
from conftest import Cli, Repo, dev_prod_project, file_doc, new_repo


def make_repo(tmp_path: Path, approvals: str = "") -> Repo:
    prod = "      promotion: {from: dev, soak: 30m}\n" + approvals
    repo = new_repo(
        tmp_path / "repo", dev_prod_project(tmp_path / "out", prod), tmp_path / "out" / "prod"
    )
    set_content(repo, "v1\n")
    repo.commit("v1")
    return repo


def set_content(repo: Repo, content: str) -> None:
    repo.write("env/resources.yaml", yaml.safe_dump(file_doc("motd", "etc/motd", content)))


def age(cli: Cli, env: str, seconds: float) -> None:
    """Move every recorded run of `env` back in time."""
    with sqlite3.connect(cli.state) as db:
        db.execute(
            "UPDATE runs SET started_at = started_at - ?, finished_at = finished_at - ? "
            "WHERE scope = ?",
            (seconds, seconds, f"shop/{env}"),
        )


def prod_motd(tmp_path: Path) -> str:
    return (tmp_path / "out" / "prod" / "etc" / "motd").read_text()


def test_a_revision_reaches_prod_only_after_dev_kept_it_healthy_for_the_soak(
    cli: Cli, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    never = cli("apply", "--env", "prod", "--yes", repo=repo.path, expect=1).output
    assert "prod runs only what dev verified: shop/dev has applied nothing yet" in never
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    early = cli("apply", "--env", "prod", "--yes", repo=repo.path, expect=1).output
    assert "kept healthy for 30 min" in early and "has soaked 0 s there" in early
    age(cli, "dev", 31 * 60)
    promoted = cli("promote", "--from", "dev", "--to", "prod", "--yes", repo=repo.path).output
    assert "1 created" in promoted
    assert prod_motd(tmp_path) == "v1\n"
    audit = json.loads(cli("audit", "log", "--env", "shop/prod", "-o", "json").stdout)
    actions = [e["action"] for e in audit["entries"]]
    assert "promotion.checked" in actions and "promotion.applied" in actions


def test_an_unmerged_commit_never_applied_anywhere_is_refused_in_prod(
    cli: Cli, tmp_path: Path
) -> None:
    """The defect: `apply --env prod --rev <a branch's commit>` used to go straight in."""
    repo = make_repo(tmp_path)
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    age(cli, "dev", 3600)
    cli("promote", "--from", "dev", "--to", "prod", "--yes", repo=repo.path)
    repo.git("checkout", "--quiet", "-b", "experiment")
    set_content(repo, "unreviewed\n")
    unmerged = repo.commit("unreviewed")
    repo.git("checkout", "--quiet", "main")
    refused = cli(
        "apply", "--env", "prod", "--yes", "--rev", unmerged, repo=repo.path, expect=1
    ).output
    assert f"prod runs only what dev verified: shop/dev never ran {unmerged[:12]}" in refused
    assert prod_motd(tmp_path) == "v1\n"
    audit = json.loads(cli("audit", "log", "--env", "shop/prod", "-o", "json").stdout)
    refusal = [e for e in audit["entries"] if e["action"] == "promotion.refused"][-1]
    assert refusal["subject"] == unmerged and "never ran" in refusal["detail"]["reason"]


def test_an_emergency_override_needs_a_reason_and_an_approval(cli: Cli, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "alice")], check=True
    )
    rules = "      approvals: {required: 0, allowedSigners: keys/allowed_signers}\n"
    repo = make_repo(tmp_path, rules)
    repo.write("keys/allowed_signers", f"alice@example.com {(keys / 'alice.pub').read_text()}")
    set_content(repo, "hotfix\n")
    repo.commit("hotfix")
    no_reason = cli(
        "apply", "--env", "prod", "--yes", "--override-promotion", repo=repo.path, expect=1
    )
    assert "--override-promotion needs --reason" in no_reason.output
    override = ("--override-promotion", "--reason", "INC-42: dev is down")
    unapproved = cli("apply", "--env", "prod", "--yes", *override, repo=repo.path, expect=1)
    assert "needs 1 approval(s)" in unapproved.output
    cli("approve", "--env", "prod", "--key", str(keys / "alice"), repo=repo.path)
    cli("apply", "--env", "prod", "--yes", *override, repo=repo.path)
    assert prod_motd(tmp_path) == "hotfix\n"
    audit = json.loads(cli("audit", "log", "--env", "shop/prod", "-o", "json").stdout)
    overridden = [e for e in audit["entries"] if e["action"] == "promotion.overridden"]
    assert overridden[0]["detail"]["reason"] == "INC-42: dev is down"
    assert overridden[0]["actor"] == "tester"


def test_the_agent_moves_prod_to_what_dev_verified_not_to_the_branch_head(
    cli: Cli, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    agent = ("agent", "--repo", str(repo.path), "--env", "dev", "--env", "prod", "--once")
    cli(*agent, expect=None)
    assert not (tmp_path / "out" / "prod" / "etc" / "motd").exists()  # dev has not soaked
    v1 = repo.git("rev-parse", "HEAD")
    age(cli, "dev", 3600)
    cli(*agent, expect=None)
    assert prod_motd(tmp_path) == "v1\n"
    set_content(repo, "v2\n")
    repo.commit("v2")  # the branch moves on: dev takes v2 at once, prod stays on v1
    cli(*agent, expect=None)
    status = json.loads(cli("status", "-o", "json", repo=repo.path).stdout)
    applied = {e["environment"]: e["appliedRevision"] for e in status["environments"]}
    assert applied["prod"] == v1 and prod_motd(tmp_path) == "v1\n"
    assert (tmp_path / "out" / "dev" / "etc" / "motd").read_text() == "v2\n"


def test_a_revision_the_source_left_is_not_promoted(cli: Cli, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    v1 = repo.git("rev-parse", "HEAD")
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    set_content(repo, "v2\n")
    v2 = repo.commit("v2")
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    age(cli, "dev", 3600)
    cli("rollback", "--env", "dev", "--to", v1, "--yes", repo=repo.path)  # v2 was bad
    refused = cli("apply", "--env", "prod", "--yes", "--rev", v2, repo=repo.path, expect=1)
    assert "ran " + v2[:12] + " but does not run it healthy now" in refused.output


def test_a_rollback_cannot_smuggle_in_what_the_source_never_ran(cli: Cli, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    first = repo.git("rev-parse", "HEAD")
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    age(cli, "dev", 3600)
    cli("promote", "--from", "dev", "--to", "prod", "--yes", repo=repo.path)
    set_content(repo, "v2\n")
    repo.commit("v2")
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    age(cli, "dev", 3600)
    cli("promote", "--from", "dev", "--to", "prod", "--yes", repo=repo.path)
    # Back to what prod ran before: allowed.
    cli("rollback", "--env", "prod", "--to", first, "--yes", repo=repo.path)
    assert prod_motd(tmp_path) == "v1\n"
    repo.git("checkout", "--quiet", "-b", "side")
    set_content(repo, "never reviewed\n")
    side = repo.commit("side")
    refused = cli("rollback", "--env", "prod", "--to", side, "--yes", repo=repo.path, expect=1)
    assert "prod runs only what dev verified" in refused.output
    assert prod_motd(tmp_path) == "v1\n"


def test_a_head_that_drops_the_rule_does_not_lift_it(cli: Cli, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    age(cli, "dev", 3600)
    cli("promote", "--from", "dev", "--to", "prod", "--yes", repo=repo.path)
    repo.write(
        "gitcops.yaml",
        (repo.path / "gitcops.yaml")
        .read_text()
        .replace("      promotion: {from: dev, soak: 30m}\n", ""),
    )
    set_content(repo, "no more soak\n")
    repo.commit("drop the promotion rule")
    agent = ("agent", "--repo", str(repo.path), "--env", "dev", "--env", "prod", "--once")
    cli(*agent, expect=None)
    assert prod_motd(tmp_path) == "v1\n"  # the rule of the revision prod runs still holds
    refused = cli("apply", "--env", "prod", "--yes", repo=repo.path, expect=1).output
    assert "kept healthy for 30 min" in refused
