"""Signed approvals checked at apply, with real SSH keys and real branches and merges."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import Cli, Repo, dev_prod_project, file_doc, new_repo

from gitcops.schemas import output_validator

APPROVERS = ("alice@example.com", "bob@example.com", "tester@example.com")


def keypair(folder: Path, name: str) -> tuple[Path, str]:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key, (folder / f"{name}.pub").read_text().strip()


@dataclass
class Team:
    keys: dict[str, Path]
    public: dict[str, str]

    def signers(self, *names: str) -> str:
        return "".join(f"{n} {self.public[n]}\n" for n in names)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Team:
    folder = tmp_path_factory.mktemp("keys")
    keys, public = {}, {}
    for who in [*APPROVERS, "mallory@example.com"]:
        keys[who], public[who] = keypair(folder, who.split("@")[0])
    return Team(keys, public)


def project(root: Path, approvals: str, extra: str = "") -> str:
    return dev_prod_project(root, f"      approvals: {approvals}\n{extra}")


RULES = (
    "{required: 1, approvers: [alice@example.com, bob@example.com, tester@example.com], "
    "allowedSigners: keys/allowed_signers, riskAbove: {score: 30, required: 2}}"
)


def make_repo(tmp_path: Path, team: Team, rules: str = RULES, extra: str = "") -> Repo:
    repo = new_repo(
        tmp_path / "repo", project(tmp_path / "out", rules, extra), tmp_path / "out" / "prod"
    )
    repo.write("keys/allowed_signers", team.signers(*APPROVERS))
    set_files(repo, ["a", "b", "c"])
    repo.commit("initial")
    return repo


def set_files(repo: Repo, names: list[str], content: str = "x\n") -> None:
    docs = [file_doc(n, f"etc/{n}", content) for n in names]
    repo.write("env/resources.yaml", yaml.safe_dump_all(docs, sort_keys=False))


def approve(cli: Cli, repo: Repo, team: Team, who: str, rev: str = "HEAD") -> None:
    cli("approve", "--env", "prod", rev, "--key", str(team.keys[who]), repo=repo.path)


def apply_prod(cli: Cli, repo: Repo, expect: int = 0, *extra: str) -> str:
    return cli("apply", "--env", "prod", "--yes", *extra, repo=repo.path, expect=expect).output


def test_an_approval_of_a_branch_counts_for_its_merge_commit(
    cli: Cli, tmp_path: Path, team: Team
) -> None:
    repo = make_repo(tmp_path, team)
    refused = apply_prod(cli, repo, 1)
    assert "needs 1 approval(s)" in refused and "has 0 (none)" in refused
    approve(cli, repo, team, "alice@example.com")
    apply_prod(cli, repo)
    repo.git("checkout", "--quiet", "-b", "feature")
    set_files(repo, ["a", "b", "c"], "y\n")
    feature = repo.commit("feature")
    approve(cli, repo, team, "bob@example.com", feature)
    repo.git("checkout", "--quiet", "main")
    repo.git("merge", "--quiet", "--no-ff", "-m", "merge feature", "feature")
    merged = repo.git("rev-parse", "HEAD")
    assert merged != feature
    listed = json.loads(cli("approvals", "--env", "prod", "-o", "json", repo=repo.path).stdout)
    assert not list(output_validator("Approvals").iter_errors(listed))
    assert listed["approvers"] == ["bob@example.com"] and listed["satisfied"] is True
    assert "configured" in apply_prod(cli, repo)
    audit = cli("audit", "log", "--env", "shop/prod", "-o", "json").stdout
    actions = [e["action"] for e in json.loads(audit)["entries"]]
    assert actions.count("approval.verified") == 2 and "approval.refused" in actions


def test_an_approval_of_another_rendered_state_never_counts(
    cli: Cli, tmp_path: Path, team: Team
) -> None:
    repo = make_repo(tmp_path, team)
    approve(cli, repo, team, "alice@example.com")
    apply_prod(cli, repo)
    set_files(repo, ["a", "b", "c"], "approved\n")
    approved = repo.commit("approved change")
    approve(cli, repo, team, "alice@example.com", approved)
    set_files(repo, ["a", "b", "c"], "something else\n")
    repo.commit("a different change on top")
    refused = apply_prod(cli, repo, 1)
    assert "needs 1 approval(s)" in refused
    assert (tmp_path / "out" / "prod" / "etc" / "a").read_text() == "x\n"  # nothing written
    cli("apply", "--env", "prod", "--yes", "--rev", approved, repo=repo.path)


def test_forged_tampered_and_self_approvals_are_refused(
    cli: Cli, tmp_path: Path, team: Team
) -> None:
    repo = make_repo(tmp_path, team)
    approve(cli, repo, team, "mallory@example.com")  # a key the allowed signers do not list
    approve(cli, repo, team, "tester@example.com")  # the author of the change
    # A valid signature moved onto another payload (a later time): tampered.
    note = repo.git("notes", "--ref", "refs/notes/gitcops-approvals", "show", "HEAD")
    first = json.loads(note.splitlines()[0])
    payload = json.loads(first["payload"])
    payload["created_at"] = payload["created_at"] + 1
    first["payload"] = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(first) + "\n")
    repo.git("notes", "--ref", "refs/notes/gitcops-approvals", "append", "-F", str(forged), "HEAD")
    refused = apply_prod(cli, repo, 1)
    assert "tester@example.com wrote the change" in refused
    assert "does not verify" in refused
    listed = cli("approvals", "--env", "prod", repo=repo.path).stdout
    assert "0 of 1 approval(s)" in listed


def test_a_change_to_the_approvers_is_approved_by_the_current_ones(
    cli: Cli, tmp_path: Path, team: Team
) -> None:
    repo = make_repo(tmp_path, team)
    approve(cli, repo, team, "alice@example.com")
    apply_prod(cli, repo)
    # The change makes mallory an approver and lists her key: her approval of it does not count.
    repo.write("keys/allowed_signers", team.signers(*APPROVERS, "mallory@example.com"))
    repo.write(
        "gitcops.yaml",
        project(
            tmp_path / "out",
            "{required: 1, approvers: [mallory@example.com], allowedSigners: keys/allowed_signers}",
        ),
    )
    set_files(repo, ["a", "b", "c"], "mallory was here\n")
    repo.commit("new approvers")
    approve(cli, repo, team, "mallory@example.com")
    refused = apply_prod(cli, repo, 1)
    assert "rules from the applied revision" in refused
    assert "does not verify" in refused
    # Changing the rules is risky (configuration +15, prod +20 > 30): two current approvers.
    approve(cli, repo, team, "bob@example.com")
    assert "needs 2 approval(s)" in apply_prod(cli, repo, 1)
    approve(cli, repo, team, "alice@example.com")
    apply_prod(cli, repo)  # the current approvers agreed; from now on the new rules hold


def test_a_risky_change_needs_more_approvals(cli: Cli, tmp_path: Path, team: Team) -> None:
    repo = make_repo(tmp_path, team)
    approve(cli, repo, team, "alice@example.com")
    apply_prod(cli, repo)
    set_files(repo, ["a"])  # deletes b and c in prod: risk 20 (prod) + 16 (deletions) > 30
    repo.commit("remove two files")
    approve(cli, repo, team, "alice@example.com")
    refused = apply_prod(cli, repo, 1)
    assert "needs 2 approval(s)" in refused and "risk 36" in refused
    approve(cli, repo, team, "bob@example.com")
    assert "2 deleted" in apply_prod(cli, repo)


def test_only_signed_commits_are_applied_where_asked(cli: Cli, tmp_path: Path, team: Team) -> None:
    signing = "      signedCommits: {allowedSigners: keys/allowed_signers}\n"
    repo = make_repo(tmp_path, team, "{required: 0}", extra="")
    repo.write(
        "gitcops.yaml",
        project(tmp_path / "out", "{required: 0}").replace(
            "      approvals: {required: 0}\n", "      approvals: {required: 0}\n" + signing
        ),
    )
    repo.write(
        "keys/allowed_signers",
        team.signers(*APPROVERS).replace(" ssh-", ' namespaces="git,gitcops-approval" ssh-'),
    )
    repo.commit("sign commits from now on")
    refused = apply_prod(cli, repo, 1)
    assert "applies only commits signed by its allowed signers" in refused
    set_files(repo, ["a", "b"])
    repo.git("add", "--all")
    repo.git(
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingKey={team.keys['alice@example.com']}",
        "commit",
        "--quiet",
        "-S",
        "-m",
        "signed",
    )
    apply_prod(cli, repo)
    audit = cli("audit", "log", "--env", "shop/prod", "-o", "json").stdout
    verified = [e for e in json.loads(audit)["entries"] if e["action"] == "commit.verified"]
    assert verified and verified[0]["detail"]["signer"] == "alice@example.com"


def test_a_local_trust_file_holds_the_rules_before_the_first_apply(
    cli: Cli, tmp_path: Path, team: Team
) -> None:
    """A first revision that says `required: 0` cannot open its own gate."""
    repo = make_repo(tmp_path, team, "{required: 0}")
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "gitcops.yaml").write_text(project(tmp_path / "out", RULES))
    (trust / "keys").mkdir()
    (trust / "keys" / "allowed_signers").write_text(team.signers("bob@example.com"))
    cli.env["GITCOPS_TRUST"] = str(trust / "gitcops.yaml")
    refused = apply_prod(cli, repo, 1)
    assert f"rules from trust file {trust / 'gitcops.yaml'}" in refused
    approve(cli, repo, team, "alice@example.com")  # not in the trusted allowed signers
    assert "does not verify" in apply_prod(cli, repo, 1)
    approve(cli, repo, team, "bob@example.com")
    apply_prod(cli, repo)


def test_changing_only_the_rules_needs_a_new_approval(cli: Cli, tmp_path: Path, team: Team) -> None:
    """The resources render the same, but the gate is lowered: the old approval is not for it."""
    repo = make_repo(tmp_path, team)
    approve(cli, repo, team, "alice@example.com")
    apply_prod(cli, repo)
    repo.write(
        "gitcops.yaml",
        project(tmp_path / "out", "{required: 0, allowedSigners: keys/allowed_signers}"),
    )
    repo.commit("no more approvals")
    refused = apply_prod(cli, repo, 1)
    assert "needs 2 approval(s)" in refused and "rules from the applied revision" in refused
    repo.write("keys/allowed_signers", team.signers(*APPROVERS, "mallory@example.com"))
    repo.commit("and a new key")
    assert "needs" in apply_prod(cli, repo, 1)


def test_a_saved_plan_cannot_be_redirected(cli: Cli, tmp_path: Path, team: Team) -> None:
    repo = make_repo(tmp_path, team)
    approve(cli, repo, team, "alice@example.com")
    plan_file = tmp_path / "plan.json"
    cli("plan", "--env", "prod", "--out", str(plan_file), repo=repo.path, expect=None)
    saved = json.loads(plan_file.read_text())
    for change in saved["changes"]:
        change["dependsOn"] = ["local.gitcops.io/File/zzz"]
    plan_file.write_text(json.dumps(saved))
    refused = cli("apply", "--env", "prod", str(plan_file), repo=repo.path, expect=1)
    assert "is not what revision" in refused.output


def test_an_environment_added_by_a_change_gets_the_strictest_trusted_rules(
    cli: Cli, tmp_path: Path, team: Team
) -> None:
    repo = make_repo(tmp_path, team)
    approve(cli, repo, team, "alice@example.com")
    apply_prod(cli, repo)
    # A new environment, ungated in the change, aimed where prod's objects are.
    text = (
        (repo.path / "gitcops.yaml")
        .read_text()
        .replace(
            "  providers:\n    local: {root:",
            f"    - name: prodb\n      path: env\n      providers:\n"
            f"        local: {{root: {tmp_path / 'out'}/prod}}\n  providers:\n    local: {{root:",
        )
    )
    repo.write("gitcops.yaml", text)
    set_files(repo, ["a", "b", "c"], "sneaked in\n")
    repo.commit("a new environment")
    refused = cli("apply", "--env", "prodb", "--yes", repo=repo.path, expect=1).output
    assert "needs" in refused and "rules from the revision shop/prod applied" in refused
    assert (tmp_path / "out" / "prod" / "etc" / "a").read_text() == "x\n"


def test_a_writer_of_any_commit_of_the_change_cannot_approve_it(
    cli: Cli, tmp_path: Path, team: Team
) -> None:
    repo = make_repo(tmp_path, team)
    approve(cli, repo, team, "alice@example.com")
    apply_prod(cli, repo)
    set_files(repo, ["a", "b", "c"], "alice's change\n")
    repo.git("add", "--all")
    repo.git(
        "-c",
        "user.name=Alice",
        "-c",
        "user.email=alice@example.com",
        "commit",
        "--quiet",
        "-m",
        "alice writes",
    )
    repo.git("commit", "--quiet", "--allow-empty", "-m", "someone else on top")
    approve(cli, repo, team, "alice@example.com")
    refused = apply_prod(cli, repo, 1)
    assert "alice@example.com wrote the change" in refused


def _gpg_key(home: Path, who: str) -> str:
    """A new signing key in the keyring at `home`; its fingerprint."""
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
         "--quick-gen-key", who, "ed25519", "sign", "never"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    listed = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys", who],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr"))


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")
def test_gpg_signed_commits_count_only_from_listed_keys(
    cli: Cli, tmp_path: Path, team: Team
) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    carol = _gpg_key(home, "Carol <carol@example.com>")
    _gpg_key(home, "Dave <dave@example.com>")
    cli.env["GNUPGHOME"] = str(home)
    signing = f"signedCommits: {{allowedSigners: keys/allowed_signers, gpgKeys: [{carol}]}}"
    rules = "{required: 0}\n      " + signing
    repo = make_repo(tmp_path, team, rules)

    def signed_commit(key: str, content: str) -> None:
        set_files(repo, ["a"], content)
        repo.git("add", "--all")
        subprocess.run(
            ["git", "-c", "gpg.format=openpgp", "-c", f"user.signingKey={key}",
             "commit", "--quiet", "-S", "-m", content],
            cwd=repo.path, env={**cli.env, "GNUPGHOME": str(home)}, check=True,
        )  # fmt: skip

    try:
        signed_commit("dave@example.com", "by dave\n")
        refused = apply_prod(cli, repo, 1)
        assert "applies only commits signed by its allowed signers" in refused
        signed_commit("carol@example.com", "by carol\n")
        apply_prod(cli, repo)
        assert (tmp_path / "out" / "prod" / "etc" / "a").read_text() == "by carol\n"
    finally:  # the keyring's agent outlives gpg otherwise
        subprocess.run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(home)}, check=False)
