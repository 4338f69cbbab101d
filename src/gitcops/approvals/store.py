"""Approvals as Git notes: one JSON line per approval in the note of the approved commit.

A notes ref is not a branch: `git clone`, `git fetch` and `git push` leave it behind unless it
is named. To publish and to collect approvals:

    git push origin refs/notes/gitcops-approvals
    git fetch origin refs/notes/gitcops-approvals:refs/notes/gitcops-approvals

(or a `remote.origin.fetch` line with that refspec, `+` in front to follow a rewritten ref).
Two people approving at once make the ref diverge: the second push is refused as non-fast-
forward. Fetch theirs into another ref (`refs/notes/gitcops-approvals-incoming`), `merge()` it
and push again; git's cat_sort_uniq strategy keeps every line of both sides.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gitcops.approvals.model import Approval, ApprovalError, ApprovalFormatError, ApprovalPayload
from gitcops.approvals.tools import git

REF = "refs/notes/gitcops-approvals"
_FALLBACK_IDENTITY = ["-c", "user.name=gitcops", "-c", "user.email=gitcops@localhost"]
_BEGIN, _END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"


def add(repo: Path, approval: Approval) -> None:
    """Append `approval` to the note of its commit, unless that note already holds it.

    Not safe against a concurrent add in the same repository (git notes rewrites the ref
    without comparing its old value): one of two simultaneous appends may be lost.
    """
    if approval.commit.startswith("-"):  # would read as an option
        raise ApprovalError(f"not a commit: {approval.commit}")
    wanted = f"{approval.commit}^{{commit}}"
    commit = _git(
        repo, ["rev-parse", "--verify", "--quiet", wanted], f"no commit {approval.commit}"
    )
    line = _line(approval)
    shown = git(repo, ["notes", "--ref", REF, "show", commit])
    if shown.returncode == 0 and line in shown.stdout.decode("utf-8").split("\n"):
        return
    append = ["notes", "--ref", REF, "append", "-F", "-", commit]
    _git(repo, _identity(repo) + append, "cannot add the approval", stdin=line)


def load_all(repo: Path) -> tuple[list[Approval], list[str]]:
    """Every approval under REF, and a short reason for each note line that is not one.

    Two git processes whatever the number of notes: `notes list` and one `cat-file --batch`.
    Nothing is verified here: a stored approval is a claim until ssh.verify() says otherwise.
    """
    listed = _git(repo, ["notes", "--ref", REF, "list"], "cannot list approvals")
    notes = [line.split() for line in listed.splitlines()]
    if not notes:
        return [], []
    blobs = "".join(f"{blob}\n" for blob, _ in notes).encode("ascii")
    batch = git(repo, ["cat-file", "--batch"], blobs)
    if batch.returncode != 0:
        raise ApprovalError(f"git cat-file failed in {repo}: {_stderr(batch)}")
    approvals: list[Approval] = []
    problems: list[str] = []
    output, position = batch.stdout, 0
    for _, commit in notes:
        end = output.index(b"\n", position)
        header = output[position:end].split()
        if len(header) != 3:  # "<oid> missing": a broken notes tree
            raise ApprovalError(f"the note of {commit} is missing from {repo}")
        size = int(header[2])
        text = output[end + 1 : end + 1 + size].decode("utf-8", "replace")
        position = end + 1 + size + 1  # each object is followed by a newline
        for number, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue  # `git notes append` puts a blank line between paragraphs
            try:
                approvals.append(_parse_line(raw, commit))
            except ApprovalFormatError as error:
                problems.append(f"note of {commit[:12]}, line {number}: {error}")
    return approvals, problems


def merge(repo: Path, incoming: str) -> None:
    """Merge the notes ref `incoming` (fetched from elsewhere) into REF, keeping every line."""
    if incoming.startswith("-"):
        raise ApprovalError(f"not a ref: {incoming}")
    args = ["notes", "--ref", REF, "merge", "-q", "--strategy=cat_sort_uniq", incoming]
    _git(repo, _identity(repo) + args, f"cannot merge {incoming} into {REF}")


def _line(approval: Approval) -> str:
    # ASCII-only (ensure_ascii): no character in a name can end the line early.
    document = {
        "payload": approval.payload.canonical().decode("utf-8"),
        "signature": approval.signature.strip() + "\n",
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _parse_line(line: str, commit: str) -> Approval:
    try:
        document = json.loads(line)
    except ValueError as error:
        raise ApprovalFormatError(f"not JSON ({error})") from None
    if (
        not isinstance(document, dict)
        or set(document) != {"payload", "signature"}
        or not all(isinstance(value, str) for value in document.values())
    ):
        raise ApprovalFormatError('not {"payload": "...", "signature": "..."}')
    signature = document["signature"].strip()
    if not (signature.startswith(_BEGIN) and signature.endswith(_END)):
        raise ApprovalFormatError("the signature is not an armored SSH signature")
    try:
        payload_bytes = document["payload"].encode("utf-8")
    except UnicodeEncodeError:
        raise ApprovalFormatError("the payload is not valid Unicode") from None
    return Approval(ApprovalPayload.parse(payload_bytes), document["signature"], commit)


def _identity(repo: Path) -> list[str]:
    """Nothing if git can name a committer here (config, environment), else gitcops' own."""
    known = git(repo, ["var", "GIT_COMMITTER_IDENT"]).returncode == 0
    return [] if known else _FALLBACK_IDENTITY


def _git(repo: Path, args: list[str], what: str, stdin: str = "") -> str:
    done = git(repo, args, stdin.encode("utf-8"))
    if done.returncode != 0:
        raise ApprovalError(f"{what} in {repo}: {_stderr(done)}")
    return done.stdout.decode("utf-8").strip()


def _stderr(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode("utf-8", "replace").splitlines()
    kept = [line.strip().removeprefix("fatal: ").removeprefix("error: ") for line in lines]
    return "; ".join(line for line in kept if line) or f"exit status {done.returncode}"
