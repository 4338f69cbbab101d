"""Signatures and push payloads of each forge, judged as pure functions (no HTTP)."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitcops.api import webhooks
from gitcops.api.webhooks import (
    BodyTooLargeError,
    Delivery,
    Forge,
    Ignored,
    Outcome,
    Push,
    Rejected,
    check_signature,
    declared_too_large,
    gitea_signature,
    github_signature,
    judge,
    load_secret,
    read_body,
)

from .conftest import SECRET, payload


def signed(
    forge: Forge,
    event: str | None,
    body: bytes,
    secret: bytes = SECRET,
    content_type: str | None = None,
) -> Delivery:
    signature = {
        "github": github_signature(secret, body),
        "gitlab": secret.decode(),
        "gitea": gitea_signature(secret, body),
    }[forge]
    return Delivery(forge, event, signature, body, content_type)


# --- signatures ------------------------------------------------------------------------------


def test_github_signature_matches_githubs_documented_example() -> None:
    # "Validating webhook deliveries", docs.github.com: this secret and payload give this header.
    assert (
        github_signature(b"It's a Secret to Everybody", b"Hello, World!")
        == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    assert gitea_signature(b"It's a Secret to Everybody", b"Hello, World!") == (
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_valid_signature_passes_and_every_forgery_fails(forge: Forge) -> None:
    body = payload(f"{forge}_push.json")
    good = signed(forge, "x", body).signature
    assert good is not None
    assert check_signature(forge, SECRET, body, good) is None
    assert check_signature(forge, SECRET, body, None) is Outcome.MISSING_SIGNATURE
    assert check_signature(forge, SECRET, body, "") is Outcome.MISSING_SIGNATURE
    wrong = signed(forge, "x", body, secret=b"another secret").signature
    assert check_signature(forge, SECRET, body, wrong) is Outcome.BAD_SIGNATURE
    for forged in ("sha256=" + "0" * 64, "0" * 64, good[:-1], good + "0", "é", good[:-2]):
        assert check_signature(forge, SECRET, body, forged) is Outcome.BAD_SIGNATURE, forged


@pytest.mark.parametrize("forge", ["github", "gitea"])
def test_hmac_signatures_cover_the_body(forge: Forge) -> None:
    body = payload(f"{forge}_push.json")
    good = signed(forge, "push", body).signature
    tampered = body.replace(b"refs/heads/", b"refs/heads/x")
    assert check_signature(forge, SECRET, tampered, good) is Outcome.BAD_SIGNATURE
    assert check_signature(forge, SECRET, body, (good or "").upper()) is None  # hex in any case


def test_each_forges_header_format_is_its_own() -> None:
    body = b"{}"
    hex_only = gitea_signature(SECRET, body)
    assert check_signature("github", SECRET, body, hex_only) is Outcome.BAD_SIGNATURE
    assert check_signature("gitea", SECRET, body, "sha256=" + hex_only) is Outcome.BAD_SIGNATURE
    # GitLab sends the secret itself, never a digest of it
    assert check_signature("gitlab", SECRET, body, hex_only) is Outcome.BAD_SIGNATURE
    assert check_signature("gitlab", SECRET, body, SECRET.decode() + " ") is None  # header space


def test_a_gitlab_token_with_non_ascii_characters() -> None:
    secret = "sécret-ü".encode()
    as_received = secret.decode("latin-1")  # how the server hands over the header's bytes
    assert check_signature("gitlab", secret, b"{}", as_received) is None
    assert check_signature("gitlab", secret, b"{}", "sécret-ü") is Outcome.BAD_SIGNATURE


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_comparisons_are_constant_time(forge: Forge, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)
    body = payload(f"{forge}_push.json")
    assert check_signature(forge, SECRET, body, signed(forge, "x", body).signature) is None
    assert check_signature(forge, SECRET, body, "short") is Outcome.BAD_SIGNATURE
    # both compared through compare_digest, as digests of equal length whatever was sent
    assert len(calls) == 2 and all(len(a) == len(b) == 32 for a, b in calls)


def test_no_secret_refuses_everything_signed_or_not() -> None:
    body = payload("github_push.json")
    for secret in (None, b""):
        for delivery in (signed("github", "push", body), Delivery("github", "push", None, body)):
            verdict = judge(delivery, secret)
            assert isinstance(verdict, Rejected) and verdict.outcome is Outcome.NO_SECRET
            assert verdict.status == 503 and "no webhook secret" in verdict.detail


def test_signature_is_checked_before_the_payload_is_read() -> None:
    verdict = judge(Delivery("github", "push", "sha256=00", b"not json"), SECRET)
    assert isinstance(verdict, Rejected) and verdict.outcome is Outcome.BAD_SIGNATURE
    assert verdict.status == 401 and "X-Hub-Signature-256" in verdict.detail
    verdict = judge(Delivery("gitea", "push", None, b"not json"), SECRET)
    assert isinstance(verdict, Rejected) and verdict.outcome is Outcome.MISSING_SIGNATURE
    assert "X-Gitea-Signature" in verdict.detail


# --- payloads --------------------------------------------------------------------------------

PUSH = "9e597618cb9102c993b3245f4e7c0843131ce335"

CASES: list[tuple[Forge, str, str, Push | Outcome]] = [
    ("github", "push", "github_push.json", Push("github", "main", PUSH, "Codertocat/shop-config")),
    ("github", "ping", "github_ping.json", Outcome.PING),
    ("github", "push", "github_push_tag.json", Outcome.IGNORED_TAG),
    ("github", "push", "github_push_deleted.json", Outcome.IGNORED_DELETION),
    ("github", "pull_request", "github_pull_request.json", Outcome.IGNORED_EVENT),
    (
        "gitlab",
        "Push Hook",
        "gitlab_push.json",
        Push("gitlab", "master", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "mike/diaspora"),
    ),
    ("gitlab", "Tag Push Hook", "gitlab_tag_push.json", Outcome.IGNORED_TAG),
    ("gitlab", "Push Hook", "gitlab_push_deleted.json", Outcome.IGNORED_DELETION),
    ("gitlab", "Merge Request Hook", "gitlab_push.json", Outcome.IGNORED_EVENT),
    (
        "gitlab",
        "System Hook",  # instance-wide hooks: the event is named in the payload
        "gitlab_push.json",
        Push("gitlab", "master", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "mike/diaspora"),
    ),
    ("gitlab", "System Hook", "gitlab_tag_push.json", Outcome.IGNORED_TAG),
    (
        "gitea",
        "push",
        "gitea_push.json",
        Push("gitea", "develop", "bffeb74224043ba2feb48d137756c8a9331c449a", "gitea/webhooks"),
    ),
    ("gitea", "delete", "gitea_delete.json", Outcome.IGNORED_EVENT),
    ("gitea", "create", "gitea_push.json", Outcome.IGNORED_EVENT),
]


@pytest.mark.parametrize(
    ("forge", "event", "name", "expected"), CASES, ids=[f"{c[0]}-{c[2]}-{c[1]}" for c in CASES]
)
def test_recorded_payloads(forge: Forge, event: str, name: str, expected: Push | Outcome) -> None:
    verdict = judge(signed(forge, event, payload(name), content_type="application/json"), SECRET)
    if isinstance(expected, Push):
        assert verdict == expected
    else:
        assert isinstance(verdict, Ignored) and verdict.outcome is expected


def _push(forge: Forge, **fields: object) -> bytes:
    data = json.loads(payload(f"{forge}_push.json"))
    data.update(fields)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("forge", "event"), [("github", "push"), ("gitlab", "Push Hook"), ("gitea", "push")]
)
def test_refs_and_commit_ids(forge: Forge, event: str) -> None:
    def verdict(**fields: object) -> object:
        return judge(signed(forge, event, _push(forge, **fields)), SECRET)

    sha256 = "AB" * 32  # a SHA-256 repository's commit id, in capitals
    got = verdict(ref="refs/heads/release/v2", after=sha256, checkout_sha=sha256)
    assert isinstance(got, Push) and (got.branch, got.commit) == ("release/v2", sha256.lower())
    got = verdict(after="not a commit", checkout_sha=None)
    assert isinstance(got, Push) and got.commit is None  # a hint only: the agent fetches anyway
    for ref, outcome in (
        ("refs/tags/v1", Outcome.IGNORED_TAG),
        ("refs/notes/commits", Outcome.IGNORED_REF),
        ("refs/heads/", Outcome.IGNORED_REF),
        ("main", Outcome.IGNORED_REF),
    ):
        got = verdict(ref=ref)
        assert isinstance(got, Ignored) and got.outcome is outcome, ref
    got = verdict(after="0" * 64, checkout_sha=None)  # a deletion in a SHA-256 repository
    assert isinstance(got, Ignored) and got.outcome is Outcome.IGNORED_DELETION


@pytest.mark.parametrize(
    ("body", "content_type", "event"),
    [
        (b"not json", "application/json", "push"),
        (b"[1, 2]", "application/json", "push"),
        (b'{"after": "' + b"a" * 40 + b'"}', "application/json", "push"),  # no ref
        (b'{"ref": 7}', None, "push"),
        (b"\xff\xfe", None, "push"),
        (b"[" * 100_000 + b"]" * 100_000, None, "push"),  # nested past the recursion limit
        (b"payload=%7B%7D&payload=%7B%7D", "application/x-www-form-urlencoded", "push"),
        (b"ref=refs/heads/main", "application/x-www-form-urlencoded", "push"),
        (b"<push/>", "application/xml", "push"),
        (b"{}", "application/json", None),  # no event header
        (b"{}", "application/json", ""),
    ],
)
def test_bad_payloads_are_400_never_an_exception(
    body: bytes, content_type: str | None, event: str | None
) -> None:
    verdict = judge(signed("github", event, body, content_type=content_type), SECRET)
    assert isinstance(verdict, Rejected) and verdict.outcome is Outcome.BAD_PAYLOAD
    assert verdict.status == 400


@pytest.mark.parametrize("forge", ["github", "gitea"])
def test_the_form_content_type_carries_the_json_in_payload(forge: Forge) -> None:
    # GitHub's default content type, and one of Gitea's: the JSON in a `payload` field.
    body = urlencode({"payload": payload(f"{forge}_push.json").decode()}).encode()
    ctype = "application/x-www-form-urlencoded"
    verdict = judge(signed(forge, "push", body, content_type=ctype), SECRET)
    assert isinstance(verdict, Push) and verdict.branch in ("main", "develop")


@settings(max_examples=300, deadline=None)
@given(
    forge=st.sampled_from(["github", "gitlab", "gitea"]),
    event=st.one_of(
        st.none(), st.sampled_from(["push", "Push Hook", "ping", "System Hook"]), st.text()
    ),
    data=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=50),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["ref", "after", "checkout_sha", "deleted", "event_name", "x"]),
                inner,
                max_size=6,
            )
        ),
        max_leaves=20,
    ),
    junk=st.binary(max_size=64),
)
def test_any_signed_body_gets_a_verdict_never_an_error(
    forge: Forge, event: str | None, data: object, junk: bytes
) -> None:
    for body in (json.dumps(data).encode(), junk):
        verdict = judge(signed(forge, event, body), SECRET)
        assert isinstance(verdict, Push | Ignored | Rejected)
        if isinstance(verdict, Push):
            assert verdict.branch and verdict.forge == forge


# --- the secret and the body -------------------------------------------------------------------


def test_load_secret(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_bytes(b"from-file\n")
    env = {"GITCOPS_WEBHOOK_SECRET": "from-env"}
    assert load_secret(f, env) == b"from-file"  # the file wins, its newline dropped
    assert load_secret(None, env) == b"from-env"
    assert load_secret(None, {}) is None
    f.write_bytes(b"with inner\nnewline\r\n")
    assert load_secret(str(f), {}) == b"with inner\nnewline"
    for empty in (b"", b"\n"):
        f.write_bytes(empty)
        with pytest.raises(ValueError, match="is empty"):
            load_secret(f, env)
    with pytest.raises(ValueError, match="GITCOPS_WEBHOOK_SECRET is empty"):
        load_secret(None, {"GITCOPS_WEBHOOK_SECRET": ""})
    with pytest.raises(FileNotFoundError):
        load_secret(tmp_path / "missing", env)


def test_declared_length() -> None:
    assert declared_too_large("1025", 1024)
    assert not declared_too_large("1024", 1024)
    for unknown in (None, "", "-5", "12a", "1e9"):
        assert not declared_too_large(unknown, 1024)  # the count while reading decides


def test_read_body_stops_as_soon_as_the_limit_is_passed() -> None:
    pulled: list[int] = []

    async def chunks(n: int, size: int) -> AsyncIterator[bytes]:
        for i in range(n):
            pulled.append(i)
            yield b"x" * size

    async def main() -> None:
        assert await read_body(chunks(4, 256), 1024) == b"x" * 1024  # exactly at the limit
        pulled.clear()
        with pytest.raises(BodyTooLargeError):
            await read_body(chunks(1000, 256), 1024)
        assert len(pulled) == 5  # never read past the chunk that went over
        assert await read_body(chunks(0, 1), 0) == b""

    anyio.run(main)
