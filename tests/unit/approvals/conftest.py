"""Real keys, real repositories: ed25519 keys made by ssh-keygen, repositories made by git.

Every test runs with an empty global git config, so a developer's own settings (signing,
identity, hooks) can neither help nor break them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitcops.approvals.model import ApprovalPayload

IDENTITY = ("-c", "user.name=Tester", "-c", "user.email=tester@example")
APPROVERS = ("alice", "bob")  # in the allowed-signers file; "mallory" is not


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def public_file(key: Path) -> Path:
    return key.with_name(key.name + ".pub")


def public_line(key: Path) -> str:
    """`ssh-ed25519 AAAA...` of a key pair, without the comment."""
    return " ".join(public_file(key).read_text().split()[:2])


def payload(revision: str, environment: str = "prod", created_at: float = 1.7e9) -> ApprovalPayload:
    return ApprovalPayload("shop", environment, "ab" * 32, revision, created_at)


@pytest.fixture(autouse=True)
def _clean_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.gitconfig"
    empty.touch()
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{role}_NAME", raising=False)
        monkeypatch.delenv(f"GIT_{role}_EMAIL", raising=False)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Private key files of alice, bob and mallory (public halves beside them, `.pub`)."""
    folder = tmp_path_factory.mktemp("keys")
    made = {}
    for name in (*APPROVERS, "mallory"):
        key = folder / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
            check=True,
        )
        made[name] = key
    return made


@pytest.fixture
def allowed_signers(tmp_path: Path, keys: dict[str, Path]) -> Path:
    path = tmp_path / "allowed_signers"
    path.write_text(
        "".join(
            f'{name}@example namespaces="gitcops-approval" {public_line(keys[name])}\n'
            for name in APPROVERS
        )
    )
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A work tree with two commits on main."""
    path = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for message in ("first", "second"):
        (path / "file.txt").write_text(message)
        git(path, "add", "file.txt")
        git(path, *IDENTITY, "commit", "-q", "-m", message)
    return path


def commits(repo: Path) -> list[str]:
    """The repository's commits, oldest first."""
    return git(repo, "rev-list", "--reverse", "HEAD").split()
