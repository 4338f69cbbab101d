"""Test secrets for the scanner, assembled at run time so that this source holds none whole."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from gitcops.model.findings import Finding

# AWS's documented example key pair; detect-secrets flags it (it does not skip "EXAMPLE" keys).
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
GITHUB_TOKEN = "ghp_" + "R2x9mQ7vLp4TzW8sKd3NhY6cBf1JuE5aXo0G"
SLACK_TOKEN = "xoxb-" + "2048174620391-2048174620391-Hk7pQ2mWz9RtY4vXc8NbL3sD"
STRIPE_KEY = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
PASSWORD = "Xq7#vR2!" + "mZ9pL4wK8sT1"


def _b64url(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


JWT = ".".join(
    (
        _b64url({"alg": "HS256", "typ": "JWT"}),
        _b64url({"sub": "1234567890", "name": "gitcops"}),
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    )
)
PRIVATE_KEY = "\n".join(
    (
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu",
        "KUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEm",
        "-----END RSA " + "PRIVATE KEY-----",
    )
)
SECRETS = (AWS_KEY_ID, AWS_SECRET_KEY, GITHUB_TOKEN, SLACK_TOKEN, STRIPE_KEY, PASSWORD, JWT)


def fragments(secret: str, size: int = 5) -> set[str]:
    """Every piece of the secret longer than 4 characters, in effect (those contain these)."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def assert_no_secret_material(text: str) -> None:
    for secret in (*SECRETS, *PRIVATE_KEY.splitlines()[1:3]):
        leaked = sorted(piece for piece in fragments(secret) if piece in text)
        assert not leaked, f"secret fragments {leaked} appear in {text[:200]!r}"


def dump(findings: list[Finding]) -> str:
    return json.dumps([f.as_json() for f in findings])


def where(findings: list[Finding]) -> list[tuple[str | None, int | None, str]]:
    return [(f.file, f.line, f.rule) for f in findings]


def spec_strings(
    value: Any, path: tuple[str | int, ...] = ("spec",), key: str | None = None
) -> Iterator[tuple[tuple[str | int, ...], str | None, str]]:
    """A resource spec's strings as the built-in policy hands them to scan_values."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from spec_strings(v, (*path, k), str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from spec_strings(v, (*path, i), key)
    elif isinstance(value, str):
        yield path, key, value


@pytest.fixture
def cache_dir(tmp_path: Any) -> Any:
    path = tmp_path / "cache"
    path.mkdir()
    return path
