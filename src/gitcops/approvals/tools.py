"""The command-line tools approvals rest on (git, ssh-keygen), run in one way: C locale, so
their messages can be read, and a missing tool named as such."""

from __future__ import annotations

import os
import subprocess

from gitcops.approvals.model import ApprovalError


def run(argv: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise ApprovalError(f"{argv[0]} not found on PATH") from None


def git(repo: object, args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """`git -C REPO ARGS`."""
    return run(["git", "-C", str(repo), *args], stdin)
