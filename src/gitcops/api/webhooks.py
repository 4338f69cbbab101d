"""Forge webhooks as pure functions: who signed a delivery, and what it asks for.

A delivery is judged in a fixed order: a secret must be configured, the signature must match
(before anything in the body is believed), then the payload is read. The result is one of
three values: a `Push` to a branch (the agent decides whether it watches that branch), an
`Ignored` event (a ping, a tag, a deletion, another kind of event) or a `Rejected` request.
Every outcome has a fixed name, the `outcome` label of `gitcops_webhook_requests_total`.

What each forge sends (their documented push webhooks):

- GitHub: `X-GitHub-Event: push` (or `ping` when the hook is created), `X-Hub-Signature-256:
  sha256=<hex HMAC-SHA256 of the body>`; the body is JSON (`application/json`) or, with the
  form content type, the JSON in a `payload` form field. `ref`, `after`, `deleted`.
- GitLab: `X-Gitlab-Event: Push Hook` (`Tag Push Hook` for tags; system hooks send `System
  Hook` with `event_name`), `X-Gitlab-Token: <the secret itself>`; JSON with `ref`,
  `checkout_sha` (null when the branch is deleted) and `after`.
- Gitea (and Forgejo): `X-Gitea-Event: push`, `X-Gitea-Signature: <hex HMAC-SHA256 of the
  body>` (no prefix); JSON (or the form content type, as GitHub) with `ref` and `after`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal
from urllib.parse import parse_qs

Forge = Literal["github", "gitlab", "gitea"]
FORGES: Final[tuple[Forge, ...]] = ("github", "gitlab", "gitea")

DEFAULT_MAX_BODY: Final = 1024 * 1024
"""Bodies larger than this (1 MiB) are refused with 413. A push payload is a few kilobytes; the
forges list at most 20 (GitLab) or 2048 (GitHub) commits in it."""

SECRET_ENV: Final = "GITCOPS_WEBHOOK_SECRET"  # noqa: S105 (a variable name)


class Outcome(StrEnum):
    """What became of a webhook request: the bounded `outcome` label of the webhook counter."""

    TRIGGERED = "triggered"  # a push to the watched branch: a reconcile was triggered or coalesced
    OTHER_BRANCH = "other_branch"  # a push to a branch the agent does not watch
    PING = "ping"  # GitHub's ping, sent when the hook is created
    IGNORED_EVENT = "ignored_event"  # an event other than a push
    IGNORED_TAG = "ignored_tag"  # a tag was pushed (or deleted)
    IGNORED_DELETION = "ignored_deletion"  # a branch was deleted
    IGNORED_REF = "ignored_ref"  # a push to a ref that is neither a branch nor a tag
    NO_SECRET = "no_secret"  # noqa: S105 (a label); the agent has no webhook secret: nothing is accepted
    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"  # forged, or signed with another secret
    TOO_LARGE = "too_large"
    BAD_PAYLOAD = "bad_payload"  # signed, but not a payload this forge documents
    ERROR = "error"  # the agent's hook failed


STATUS: Final[Mapping[Outcome, int]] = {
    Outcome.TRIGGERED: 202,
    Outcome.OTHER_BRANCH: 200,
    Outcome.PING: 200,
    Outcome.IGNORED_EVENT: 200,
    Outcome.IGNORED_TAG: 200,
    Outcome.IGNORED_DELETION: 200,
    Outcome.IGNORED_REF: 200,
    Outcome.NO_SECRET: 503,
    Outcome.MISSING_SIGNATURE: 401,
    Outcome.BAD_SIGNATURE: 401,
    Outcome.TOO_LARGE: 413,
    Outcome.BAD_PAYLOAD: 400,
    Outcome.ERROR: 500,
}
"""The HTTP status of each outcome."""


@dataclass(frozen=True)
class ForgeHeaders:
    event: str
    signature: str


HEADERS: Final[Mapping[Forge, ForgeHeaders]] = {
    "github": ForgeHeaders(event="X-GitHub-Event", signature="X-Hub-Signature-256"),
    "gitlab": ForgeHeaders(event="X-Gitlab-Event", signature="X-Gitlab-Token"),
    "gitea": ForgeHeaders(event="X-Gitea-Event", signature="X-Gitea-Signature"),
}
"""The headers each forge names its event and carries its signature (or token) in."""


@dataclass(frozen=True)
class Delivery:
    """One webhook request, as the app read it: nothing in it is trusted yet."""

    forge: Forge
    event: str | None  # the forge's event header
    signature: str | None  # the forge's signature (GitLab: token) header
    body: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class Push:
    """A signed push to a branch. `commit` is what the forge says the branch now points at
    (None when it did not say, or not as a commit id): a hint, never a revision to apply
    unread; the agent fetches the branch."""

    forge: Forge
    branch: str
    commit: str | None
    repository: str | None = None  # the forge's name for the repository, for logs


@dataclass(frozen=True)
class Ignored:
    """A signed delivery that asks for nothing: answered 200, counted, never triggers."""

    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class Rejected:
    """A request refused before (or instead of) reading what it asks for."""

    outcome: Outcome
    detail: str

    @property
    def status(self) -> int:
        return STATUS[self.outcome]


Verdict = Push | Ignored | Rejected

NO_SECRET: Final = Rejected(
    Outcome.NO_SECRET,
    f"no webhook secret is configured (--webhook-secret-file or ${SECRET_ENV}): "
    "webhooks are refused",
)


class BodyTooLargeError(Exception):
    """The request body is larger than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


# --- the secret --------------------------------------------------------------------------------


def load_secret(file: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> bytes | None:
    """The webhook secret: the file's content if a file is given, else $GITCOPS_WEBHOOK_SECRET,
    else None (webhooks are then refused). One trailing newline is dropped (`echo s > file`).
    An empty secret is an error: anyone could sign with it."""
    if file is not None:
        with open(file, "rb") as f:
            raw = f.read()
        origin = f"the webhook secret file {os.fspath(file)}"
    elif environ.get(SECRET_ENV) is not None:
        raw = environ[SECRET_ENV].encode()
        origin = f"${SECRET_ENV}"
    else:
        return None
    secret = raw.removesuffix(b"\n").removesuffix(b"\r")
    if not secret:
        raise ValueError(f"{origin} is empty")
    return secret


# --- signatures --------------------------------------------------------------------------------


def github_signature(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends: `sha256=` and the hex HMAC-SHA256."""
    return "sha256=" + gitea_signature(secret, body)


def gitea_signature(secret: bytes, body: bytes) -> str:
    """The `X-Gitea-Signature` value Gitea sends: the bare hex HMAC-SHA256 of the body."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _header_bytes(value: str) -> bytes:
    # HTTP servers decode header bytes as latin-1: encoding back gives the bytes the forge sent
    # (a GitLab token with non-ASCII characters arrives as its UTF-8 bytes).
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # not from an HTTP header: a caller's own text
        return value.encode("utf-8", "surrogateescape")


def _same(given: str, expected: bytes) -> bool:
    # Compared as digests of equal length, so the time taken says nothing about the secret,
    # not even its length (compare_digest returns early on a length mismatch).
    given_digest = hashlib.sha256(_header_bytes(given)).digest()
    return hmac.compare_digest(given_digest, hashlib.sha256(expected).digest())


def check_signature(forge: Forge, secret: bytes, body: bytes, given: str | None) -> Outcome | None:
    """None when `given` (the forge's signature header, as the server decoded it) proves the
    body was sent by someone who holds the secret; otherwise MISSING_SIGNATURE or
    BAD_SIGNATURE. Constant-time."""
    if not given:
        return Outcome.MISSING_SIGNATURE
    given = given.strip()
    if forge == "gitlab":
        ok = _same(given, secret)
    elif forge == "github":
        ok = _same(given.lower(), github_signature(secret, body).encode())
    else:
        ok = _same(given.lower(), gitea_signature(secret, body).encode())
    return None if ok else Outcome.BAD_SIGNATURE


# --- payloads ----------------------------------------------------------------------------------

_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_HEADS = "refs/heads/"
_TAGS = "refs/tags/"


class _BadPayloadError(Exception):
    pass


def _payload(body: bytes, content_type: str | None) -> Mapping[str, object]:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    text: str | bytes = body
    if media == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as e:
            raise _BadPayloadError("the form body cannot be parsed") from e
        if len(fields.get("payload", [])) != 1:
            raise _BadPayloadError("the form body has no single 'payload' field")
        text = fields["payload"][0]
    elif media not in ("", "application/json") and not media.endswith("+json"):
        raise _BadPayloadError(f"unsupported content type {media!r}: configure application/json")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise _BadPayloadError("the body is not JSON") from e
    if not isinstance(data, dict):
        raise _BadPayloadError("the payload is not a JSON object")
    return data


def _text(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _commit(*candidates: str | None) -> str | None:
    for c in candidates:
        if c is not None and _COMMIT.fullmatch(c.lower()):
            return c.lower()
    return None


def _zeros(sha: str | None) -> bool:
    return sha is not None and len(sha) >= 40 and set(sha) == {"0"}


def _repository(data: Mapping[str, object], *paths: tuple[str, str]) -> str | None:
    for outer, inner in paths:
        node = data.get(outer)
        if isinstance(node, dict) and isinstance(node.get(inner), str):
            return str(node[inner])
    return None


def _ref_push(
    forge: Forge,
    data: Mapping[str, object],
    *,
    deleted: bool,
    commit: str | None,
    repository: str | None,
) -> Push | Ignored:
    ref = _text(data, "ref")
    if ref is None:
        raise _BadPayloadError("the push payload has no 'ref'")
    if ref.startswith(_TAGS):
        return Ignored(Outcome.IGNORED_TAG, f"tag {ref[len(_TAGS) :]!r}")
    if not ref.startswith(_HEADS) or len(ref) == len(_HEADS):
        return Ignored(Outcome.IGNORED_REF, f"ref {ref!r} is not a branch")
    branch = ref[len(_HEADS) :]
    if deleted:
        return Ignored(Outcome.IGNORED_DELETION, f"branch {branch!r} was deleted")
    return Push(forge=forge, branch=branch, commit=commit, repository=repository)


def _github(event: str, data: Mapping[str, object]) -> Push | Ignored:
    if event == "ping":
        return Ignored(Outcome.PING, "ping")
    if event != "push":
        return Ignored(Outcome.IGNORED_EVENT, f"event {event!r}")
    after = _text(data, "after")
    return _ref_push(
        "github",
        data,
        deleted=data.get("deleted") is True or _zeros(after),
        commit=_commit(after),
        repository=_repository(data, ("repository", "full_name")),
    )


def _gitlab(event: str, data: Mapping[str, object]) -> Push | Ignored:
    kind = event
    if event == "System Hook":  # instance-wide hooks name the event in the payload
        kind = {"push": "Push Hook", "tag_push": "Tag Push Hook"}.get(
            _text(data, "event_name") or "", event
        )
    if kind == "Tag Push Hook":
        return Ignored(Outcome.IGNORED_TAG, "tag push")
    if kind != "Push Hook":
        return Ignored(Outcome.IGNORED_EVENT, f"event {event!r}")
    after = _text(data, "after")
    return _ref_push(
        "gitlab",
        data,
        deleted=_zeros(after),
        commit=_commit(_text(data, "checkout_sha"), after),
        repository=_repository(data, ("project", "path_with_namespace")),
    )


def _gitea(event: str, data: Mapping[str, object]) -> Push | Ignored:
    if event != "push":
        return Ignored(Outcome.IGNORED_EVENT, f"event {event!r}")
    after = _text(data, "after")
    return _ref_push(
        "gitea",
        data,
        deleted=_zeros(after),
        commit=_commit(after),
        repository=_repository(data, ("repository", "full_name")),
    )


_PARSERS = {"github": _github, "gitlab": _gitlab, "gitea": _gitea}


def parse(forge: Forge, event: str | None, body: bytes, content_type: str | None) -> Verdict:
    """What a delivery (already authenticated) asks for, from its event header and payload."""
    if not event:
        return Rejected(Outcome.BAD_PAYLOAD, f"no {HEADERS[forge].event} header")
    try:
        return _PARSERS[forge](event.strip(), _payload(body, content_type))
    except _BadPayloadError as e:
        return Rejected(Outcome.BAD_PAYLOAD, str(e))


def judge(delivery: Delivery, secret: bytes | None) -> Verdict:
    """The verdict on one delivery: refused without a secret or a valid signature; then parsed."""
    if not secret:
        return NO_SECRET
    names = HEADERS[delivery.forge]
    failed = check_signature(delivery.forge, secret, delivery.body, delivery.signature)
    if failed is Outcome.MISSING_SIGNATURE:
        return Rejected(failed, f"no {names.signature} header")
    if failed is not None:
        return Rejected(failed, f"{names.signature} does not match the configured secret")
    return parse(delivery.forge, delivery.event, delivery.body, delivery.content_type)


# --- the body, read within a limit ---------------------------------------------------------------


def declared_too_large(content_length: str | None, limit: int) -> bool:
    """Whether a Content-Length header already says the body is over the limit (refused before
    a byte of it is read). A missing or unreadable header says nothing: reading counts."""
    if content_length is None or not content_length.strip().isdigit():
        return False
    return int(content_length) > limit


async def read_body(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """The whole body, read chunk by chunk; raises BodyTooLargeError as soon as it passes `limit`,
    so no more than `limit` bytes (and one chunk) are ever held."""
    body = bytearray()
    async for chunk in chunks:
        if len(body) + len(chunk) > limit:
            raise BodyTooLargeError(limit)
        body += chunk
    return bytes(body)
