"""A commit's own signature, checked as `git verify-commit` checks it.

git does the checking (and so honours gpg.program, gpg.minTrustLevel, gpg.ssh.revocationFile
...); this module reads the verdict: the exit status, then `--raw` status lines for who signed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gitcops.approvals.model import ApprovalError
from gitcops.approvals.tools import git

SignatureKind = Literal["ssh", "gpg", "x509", "none"]

# The signature's first line in the commit header says which program made it.
_KINDS: dict[str, SignatureKind] = {
    "-----BEGIN SSH SIGNATURE-----": "ssh",
    "-----BEGIN PGP SIGNATURE-----": "gpg",
    "-----BEGIN SIGNED MESSAGE-----": "x509",  # gpgsm; reports in gpg's status lines
}
# ssh-keygen -Y verify via git: 'Good "git" signature for alice with ED25519 key SHA256:...'.
# Without "for NAME" the signature is sound but its key is not in the allowed signers.
_SSH_GOOD = re.compile(r'^Good "git" signature (?:for (?P<signer>.+) )?with \S+ key (?P<key>\S+)$')
# gpg --status-fd lines that give the verdict, in the words to show for each; any bad one
# outweighs a GOODSIG (a commit can carry more than one signature).
_GPG_VERDICTS = {
    "BADSIG": "bad signature",
    "EXPSIG": "expired signature",
    "EXPKEYSIG": "signature by an expired key",
    "REVKEYSIG": "signature by a revoked key",
    "ERRSIG": "cannot check the signature (public key not in the keyring?)",
    "GOODSIG": "good signature",
}


@dataclass(frozen=True)
class CommitSignature:
    valid: bool  # git verify-commit accepts it
    signer: str | None  # the allowed-signers principal (ssh) or the key's user id (gpg)
    kind: SignatureKind
    message: str  # why, in words fit to show
    # SHA256:... (ssh), or the primary key's fingerprint (gpg: what key lists name); known
    # whenever the signature itself checks out, even for a key that is not allowed.
    key: str | None = None


def verify_commit(repo: Path, commit: str, allowed_signers: Path | None) -> CommitSignature:
    """How `commit` is signed and whether git accepts the signature. SSH signatures are checked
    against `allowed_signers` (None: git's own gpg.ssh.allowedSignersFile); GPG and X.509 ones
    against the user's keyring, as git does."""
    if commit.startswith("-"):  # would read as an option
        raise ApprovalError(f"not a commit: {commit}")
    kind = _signature_kind(repo, commit)
    if kind == "none":
        return CommitSignature(False, None, "none", "the commit is not signed")
    options: list[str] = []
    if allowed_signers is not None:
        if not allowed_signers.is_file():
            raise ApprovalError(f"allowed signers file not found: {allowed_signers}")
        options = ["-c", f"gpg.ssh.allowedSignersFile={allowed_signers.resolve()}"]
    done = git(repo, [*options, "verify-commit", "--raw", commit])
    output = done.stderr.decode("utf-8", "replace")  # --raw prints the verdict on stderr
    if kind == "ssh":
        return _ssh_verdict(done.returncode == 0, output)
    return _gpg_verdict(done.returncode == 0, output, kind)


def _signature_kind(repo: Path, commit: str) -> SignatureKind:
    done = git(repo, ["cat-file", "commit", commit])
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip() or "not a commit"
        raise ApprovalError(f"cannot read commit {commit} in {repo}: {reason}")
    header = done.stdout.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    for line in header.split("\n"):
        name, _, value = line.partition(" ")
        if name in ("gpgsig", "gpgsig-sha256"):  # SHA-1 and SHA-256 repositories
            return _KINDS.get(value.strip(), "gpg")
    return "none"


def _ssh_verdict(accepted: bool, output: str) -> CommitSignature:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    message = "; ".join(lines) or "git verify-commit failed"
    good = next(filter(None, map(_SSH_GOOD.match, lines)), None)
    key = good["key"] if good else None
    if good and good["signer"] and accepted:
        return CommitSignature(True, good["signer"], "ssh", message, key)
    # A sound signature by a key the file doesn't name still reads "Good ... signature with".
    return CommitSignature(False, None, "ssh", f"not accepted: {message}", key)


def _gpg_verdict(accepted: bool, output: str, kind: SignatureKind) -> CommitSignature:
    status: dict[str, str] = {}
    others: list[str] = []
    for line in output.splitlines():
        if line.startswith("[GNUPG:] "):
            keyword, _, rest = line.removeprefix("[GNUPG:] ").partition(" ")
            status.setdefault(keyword, rest)
        elif line.strip():
            others.append(line.strip())
    verdict = next((word for word in _GPG_VERDICTS if word in status), None)
    signer = status["GOODSIG"].partition(" ")[2] if "GOODSIG" in status else None
    # VALIDSIG <signing key fpr> ... <primary key fpr>: the last field is the primary's.
    valid_sig = status.get("VALIDSIG", "").split()
    key = valid_sig[-1] if valid_sig else None
    if verdict is None:
        return CommitSignature(False, None, kind, "; ".join(others) or "no signature verdict")
    message = _GPG_VERDICTS[verdict]
    if verdict == "GOODSIG":
        message += f" from {signer}"
        if not accepted:  # e.g. trust below gpg.minTrustLevel
            message += ", but git does not accept it: " + ("; ".join(others) or "untrusted key")
    return CommitSignature(accepted and verdict == "GOODSIG", signer, kind, message, key)


def writers(repo: Path, revisions: list[str]) -> set[str]:
    """Names and emails (lower case) of the authors and committers of the commits
    `revisions` selects (git log arguments: `A..B`, or `-1 C`); empty when git cannot say."""
    done = git(repo, ["log", "--format=%an%x00%ae%x00%cn%x00%ce", *revisions])
    if done.returncode != 0:
        return set()
    text = done.stdout.decode("utf-8", "replace")
    return {part.strip().lower() for line in text.splitlines() for part in line.split("\0")} - {""}
