"""Signing and verifying with real ssh-keygen: who signed, and every way a signature fails."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitcops.approvals.model import ApprovalError, ApprovalFormatError, SigningError
from gitcops.approvals.ssh import key_fingerprint, sign, signing_key_from_git, verify

from .conftest import git, payload, public_file, public_line

PAYLOAD = payload("0" * 40).canonical()


def test_a_signature_verifies_to_the_signers_principal(
    keys: dict[str, Path], allowed_signers: Path
) -> None:
    signature = sign(PAYLOAD, keys["alice"])
    assert signature.startswith("-----BEGIN SSH SIGNATURE-----")
    assert verify(PAYLOAD, signature, allowed_signers) == "alice@example"
    assert verify(PAYLOAD, sign(PAYLOAD, keys["bob"]), allowed_signers) == "bob@example"


def test_a_changed_payload_does_not_verify(keys: dict[str, Path], allowed_signers: Path) -> None:
    signature = sign(PAYLOAD, keys["alice"])
    other = payload("0" * 40, environment="staging").canonical()
    assert verify(other, signature, allowed_signers) is None
    assert verify(PAYLOAD + b" ", signature, allowed_signers) is None


def test_a_key_missing_from_allowed_signers_does_not_verify(
    keys: dict[str, Path], allowed_signers: Path
) -> None:
    assert verify(PAYLOAD, sign(PAYLOAD, keys["mallory"]), allowed_signers) is None


def test_a_signature_in_another_namespace_does_not_verify(
    keys: dict[str, Path], allowed_signers: Path
) -> None:
    # A commit signature ("git") can't pass as an approval...
    assert verify(PAYLOAD, sign(PAYLOAD, keys["alice"], namespace="git"), allowed_signers) is None
    # ... and the file's namespaces= keeps approval keys to approvals, whatever is asked.
    other = sign(PAYLOAD, keys["alice"], namespace="other")
    assert verify(PAYLOAD, other, allowed_signers, namespace="other") is None


@pytest.mark.parametrize(
    "signature",
    ["", "garbage", "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n", "\ud800"],
)
def test_a_malformed_signature_does_not_verify(signature: str, allowed_signers: Path) -> None:
    assert verify(PAYLOAD, signature, allowed_signers) is None


@pytest.mark.parametrize(
    ("option", "verifies"),
    [
        ('valid-before="20000101"', False),
        ('valid-after="29991231"', False),
        ('valid-after="20000101",valid-before="29991231"', True),
    ],
)
def test_validity_dates_in_allowed_signers_are_honoured(
    option: str, verifies: bool, keys: dict[str, Path], tmp_path: Path
) -> None:
    allowed = tmp_path / "dated_signers"
    line = f'alice@example namespaces="gitcops-approval",{option} {public_line(keys["alice"])}'
    allowed.write_text(line + "\n")
    principal = verify(PAYLOAD, sign(PAYLOAD, keys["alice"]), allowed)
    assert principal == ("alice@example" if verifies else None)


def test_a_missing_allowed_signers_file_is_an_error(keys: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ApprovalError, match="allowed signers file not found"):
        verify(PAYLOAD, sign(PAYLOAD, keys["alice"]), tmp_path / "nowhere")


def test_signing_failure_carries_ssh_keygens_reason_not_the_payload(tmp_path: Path) -> None:
    with pytest.raises(SigningError) as raised:
        sign(b"top secret payload", tmp_path / "no-such-key")
    assert "no-such-key" in str(raised.value) and "top secret" not in str(raised.value)


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A private ssh-agent for this test, its socket in SSH_AUTH_SOCK."""
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("ssh-agent is not installed")
    socket = tmp_path / "agent.sock"
    # -D: in the foreground, so this test owns the process and reaps it.
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if socket.exists():
                break
            time.sleep(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket))
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.usefixtures("agent")
def test_a_public_key_or_key_literal_signs_through_ssh_agent(
    keys: dict[str, Path], allowed_signers: Path
) -> None:
    subprocess.run(["ssh-add", "-q", str(keys["bob"])], check=True, capture_output=True)
    literal = sign(PAYLOAD, f"key::{public_line(keys['bob'])}")
    assert verify(PAYLOAD, literal, allowed_signers) == "bob@example"
    from_public_file = sign(PAYLOAD, public_file(keys["bob"]))
    assert verify(PAYLOAD, from_public_file, allowed_signers) == "bob@example"
    with pytest.raises(SigningError, match="key:: literal"):  # alice's is not in the agent
        sign(PAYLOAD, f"key::{public_line(keys['alice'])}")


def test_signing_key_from_git_reads_paths_and_literals(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert signing_key_from_git(repo) is None
    monkeypatch.setenv("HOME", str(tmp_path))
    git(repo, "config", "user.signingKey", "~/.ssh/id_ed25519.pub")
    assert signing_key_from_git(repo) == str(tmp_path / ".ssh" / "id_ed25519.pub")
    git(repo, "config", "user.signingKey", "key::ssh-ed25519 AAAAC3 me")
    assert signing_key_from_git(repo) == "key::ssh-ed25519 AAAAC3 me"
    git(repo, "config", "user.signingKey", "ssh-ed25519 AAAAC3")  # git's older literal form
    assert signing_key_from_git(repo) == "key::ssh-ed25519 AAAAC3"


def test_key_fingerprint_is_ssh_keygens(keys: dict[str, Path]) -> None:
    listed = subprocess.run(
        ["ssh-keygen", "-lf", str(public_file(keys["alice"]))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert key_fingerprint(public_file(keys["alice"]).read_text()) == listed
    assert key_fingerprint(f"key::{public_line(keys['alice'])}") == listed
    with pytest.raises(ApprovalFormatError):
        key_fingerprint("ssh-ed25519 not-a-key")
