"""Sign and verify with `ssh-keygen -Y`, the way Git signs commits with SSH keys.

ssh-keygen does the cryptography, reads keys (files, ssh-agent, security keys) and enforces the
allowed-signers file's options (namespaces=, valid-after=, valid-before=, cert-authority), so
gitcops never parses a key itself. Exit status: 0 success, 255 any failure.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from gitcops.approvals.model import NAMESPACE, ApprovalError, ApprovalFormatError, SigningError
from gitcops.approvals.tools import git, run

KEY_LITERAL = "key::"  # git's user.signingKey form for a public key written inline


def sign(payload: bytes, key: Path | str, namespace: str = NAMESPACE) -> str:
    """The armored SSH signature of `payload`. `key` is a private key file, a public key file
    whose private half ssh-agent holds, or a `key::ssh-ed25519 AAAA...` literal (agent too)."""
    with tempfile.TemporaryDirectory(prefix="gitcops-sign-") as private_dir:
        if isinstance(key, str) and key.startswith(KEY_LITERAL):
            key_file = Path(private_dir) / "key.pub"
            key_file.write_text(key.removeprefix(KEY_LITERAL).strip() + "\n")
            shown = "the key:: literal (is its private half in ssh-agent?)"
        else:
            key_file = Path(key).expanduser()
            shown = str(key_file)
        # No file argument: ssh-keygen signs stdin and writes the signature to stdout, so the
        # payload never touches the disk and no "overwrite?" prompt can appear.
        done = _ssh_keygen(["-Y", "sign", "-f", str(key_file), "-n", namespace], payload)
    signature = done.stdout.decode("ascii", "replace")
    if done.returncode != 0 or "-----BEGIN SSH SIGNATURE-----" not in signature:
        raise SigningError(f"ssh-keygen could not sign with {shown}: {_stderr(done)}")
    return signature


def verify(
    payload: bytes, signature: str, allowed_signers: Path, namespace: str = NAMESPACE
) -> str | None:
    """The principal the allowed-signers file names for the key that made `signature`, if the
    signature is good for this payload and namespace now; None for any signature that isn't.

    A principal may be a pattern (`*@example.com`): then the pattern is what comes back, so
    approvers that must be told apart need one line each. ApprovalError if the file is missing.
    """
    if not allowed_signers.is_file():
        raise ApprovalError(f"allowed signers file not found: {allowed_signers}")
    with tempfile.TemporaryDirectory(prefix="gitcops-verify-") as private_dir:
        sig_file = Path(private_dir) / "payload.sig"
        sig_file.write_bytes(signature.encode("utf-8", "replace"))
        # find-principals matches the key (and validity dates) but not the namespace; verify
        # checks all three, so each candidate goes through verify.
        found = _ssh_keygen(
            ["-Y", "find-principals", "-s", str(sig_file), "-f", str(allowed_signers)], b""
        )
        if found.returncode != 0:
            return None
        for principal in filter(None, found.stdout.decode("utf-8", "replace").splitlines()):
            verify_args = ["-Y", "verify", "-f", str(allowed_signers), "-I", principal]
            verify_args += ["-n", namespace, "-s", str(sig_file)]
            if _ssh_keygen(verify_args, payload).returncode == 0:
                return principal
    return None


def signing_key_from_git(repo: Path) -> str | None:
    """user.signingKey as git in `repo` sees it: a key file path (~ expanded) or a `key::`
    literal; None if unset. gpg.format is not consulted: a GPG key id comes back as it is,
    and sign() will then fail to load it."""
    done = git(repo, ["config", "--get", "user.signingKey"])
    value = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0 or not value:
        return None
    if value.startswith(KEY_LITERAL):
        return value
    if value.startswith("ssh-"):  # git's older literal form, still accepted by git
        return KEY_LITERAL + value
    return str(Path(value).expanduser())


def key_fingerprint(public_key_text: str) -> str:
    """`SHA256:...` of an OpenSSH public key line (a `key::` prefix is allowed)."""
    line = public_key_text.strip().removeprefix(KEY_LITERAL)
    done = _ssh_keygen(["-E", "sha256", "-l", "-f", "-"], line.encode("utf-8") + b"\n")
    fields = done.stdout.decode("utf-8", "replace").split()
    if done.returncode != 0 or len(fields) < 2 or not fields[1].startswith("SHA256:"):
        raise ApprovalFormatError(f"not an OpenSSH public key: {_stderr(done)}")
    return fields[1]


def _ssh_keygen(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return run(["ssh-keygen", *args], stdin)


def _stderr(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode("utf-8", "replace").splitlines()
    kept = [line.strip() for line in lines if line.strip() and "standard input" not in line]
    return "; ".join(kept) or f"exit status {done.returncode}"
