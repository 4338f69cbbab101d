"""Helpers the SOPS tests import (conftest.py holds only fixtures: every test directory has
one, and a module named `conftest` is ambiguous)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyrage import x25519

# CI clones the repository alone, without ../shared beside it.
VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"

SopsRunner = Callable[..., subprocess.CompletedProcess[bytes]]


class AgeKey:
    """A throwaway age identity, with its recipient and a key file for sops."""

    def __init__(self, directory: Path, name: str) -> None:
        self.identity: Any = x25519.Identity.generate()
        self.recipient = str(self.identity.to_public())
        self.secret = str(self.identity)
        self.path = directory / f"{name}.txt"
        self.path.write_text(f"# public key: {self.recipient}\n{self.secret}\n")
