"""A commit's own signature, checked by git: SSH against an allowed-signers file, GPG against
a keyring, and unsigned commits told apart from badly signed ones."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcops.approvals.commits import verify_commit
from gitcops.approvals.model import ApprovalError
from gitcops.approvals.ssh import key_fingerprint

from .conftest import IDENTITY, git, public_line


def _signed_commit(repo: Path, *signing: str) -> str:
    git(repo, *IDENTITY, *signing, "commit", "-q", "--allow-empty", "-S", "-m", "signed")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def ssh_signed(repo: Path, keys: dict[str, Path]) -> str:
    return _signed_commit(repo, "-c", "gpg.format=ssh", "-c", f"user.signingKey={keys['alice']}")


def _signers(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "commit_signers"
    path.write_text(line + "\n")
    return path


def test_an_ssh_signed_commit_verifies_to_its_signer(
    repo: Path, ssh_signed: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    signers = _signers(tmp_path, f"alice@example {public_line(keys['alice'])}")
    result = verify_commit(repo, ssh_signed, signers)
    assert (result.valid, result.signer, result.kind) == (True, "alice@example", "ssh")
    assert result.key == key_fingerprint(public_line(keys["alice"]))
    assert 'Good "git" signature for alice@example' in result.message


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("bob@example {bob}", id="key-not-listed"),
        pytest.param('alice@example namespaces="gitcops-approval" {alice}', id="approvals-only"),
        pytest.param('alice@example valid-before="20000101" {alice}', id="expired"),
    ],
)
def test_an_ssh_signed_commit_is_invalid_when_the_file_does_not_allow_its_key(
    line: str, repo: Path, ssh_signed: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    text = line.format(alice=public_line(keys["alice"]), bob=public_line(keys["bob"]))
    result = verify_commit(repo, ssh_signed, _signers(tmp_path, text))
    assert (result.valid, result.signer, result.kind) == (False, None, "ssh")
    assert result.message.startswith("not accepted: ")


def test_a_sound_signature_by_a_key_not_listed_still_names_the_key(
    repo: Path, ssh_signed: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    result = verify_commit(repo, ssh_signed, _signers(tmp_path, f"bob {public_line(keys['bob'])}"))
    assert not result.valid and result.signer is None
    assert result.key == key_fingerprint(public_line(keys["alice"]))


def test_an_unsigned_commit_is_kind_none(repo: Path, allowed_signers: Path) -> None:
    result = verify_commit(repo, "HEAD", allowed_signers)
    assert (result.valid, result.signer, result.kind) == (False, None, "none")


def test_a_missing_commit_or_signers_file_is_an_error(
    repo: Path, ssh_signed: str, tmp_path: Path
) -> None:
    with pytest.raises(ApprovalError, match="cannot read commit"):
        verify_commit(repo, "f" * 40, None)
    with pytest.raises(ApprovalError, match="not a commit"):
        verify_commit(repo, "--output=/tmp/x", None)
    with pytest.raises(ApprovalError, match="allowed signers file not found"):
        verify_commit(repo, ssh_signed, tmp_path / "nowhere")


@pytest.fixture
def gnupg_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A keyring of its own holding one signing key, Carol's; its gpg-agent stopped after."""
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed: GPG-signed commits are not tested")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    unattended = ["--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    new_key = ["--quick-gen-key", "Carol <carol@example>", "ed25519", "sign", "never"]
    made = subprocess.run(
        ["gpg", *unattended, *new_key],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"gpg cannot make a key here: {made.stderr.decode(errors='replace')}")
    try:
        yield home
    finally:
        # By home directory: the test may have pointed GNUPGHOME elsewhere meanwhile.
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
            check=False,
            capture_output=True,
        )


def test_a_gpg_signed_commit_verifies_against_the_keyring(
    repo: Path, gnupg_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = _signed_commit(repo, "-c", "gpg.format=openpgp", "-c", "user.signingKey=carol@example")
    result = verify_commit(repo, commit, None)
    assert (result.valid, result.signer, result.kind) == (True, "Carol <carol@example>", "gpg")
    assert result.message == "good signature from Carol <carol@example>"
    listed = git(repo, "log", "-1", "--format=%GP", commit)
    assert result.key == listed and len(listed) == 40  # the primary key's fingerprint
    stranger = tmp_path / "empty-gnupg"
    stranger.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(stranger))  # a keyring without Carol's key
    result = verify_commit(repo, commit, None)
    assert (result.valid, result.signer, result.kind) == (False, None, "gpg")
    assert result.message.startswith("cannot check the signature")
