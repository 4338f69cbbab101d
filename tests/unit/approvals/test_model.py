"""The signed payload: one canonical byte form, and a parser that accepts only that form."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitcops.approvals.model import ApprovalFormatError, ApprovalPayload

REVISION = "c0ffee" * 6 + "c0ff"
DIGEST = "ab" * 32
CANONICAL = (
    b'{"created_at":1700000000.5,"digest":"' + DIGEST.encode() + b'","environment":"prod",'
    b'"format":"gitcops.io/approval/v1","project":"shop","revision":"' + REVISION.encode() + b'"}'
)


def test_canonical_form_is_sorted_compact_utf8_with_the_format() -> None:
    payload = ApprovalPayload("shop", "prod", DIGEST, REVISION, 1700000000.5)
    assert payload.canonical() == CANONICAL
    assert ApprovalPayload.parse(CANONICAL) == payload


def test_whole_seconds_sign_the_same_as_int_or_float() -> None:
    as_int = ApprovalPayload("shop", "prod", DIGEST, REVISION, 1700000000)
    as_float = ApprovalPayload("shop", "prod", DIGEST, REVISION, 1700000000.0)
    assert as_int.canonical() == as_float.canonical()
    assert b'"created_at":1700000000.0' in as_int.canonical()


def test_non_ascii_names_are_kept_as_utf8() -> None:
    payload = ApprovalPayload("café", "prød ✓", DIGEST, REVISION, 1.0)
    assert "café".encode() in payload.canonical()
    assert ApprovalPayload.parse(payload.canonical()) == payload


def _document(**changes: object) -> bytes:
    document = json.loads(CANONICAL)
    document.update(changes)
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(CANONICAL.replace(b",", b", "), id="spaces"),
        pytest.param(json.dumps(json.loads(CANONICAL)).encode(), id="default-json-spacing"),
        pytest.param(CANONICAL + b"\n", id="trailing-newline"),
        pytest.param(CANONICAL.replace(b"{", b'{"project":"shop",'), id="duplicate-key"),
        pytest.param(_document(extra=1), id="extra-field"),
        pytest.param(_document(format="gitcops.io/approval/v2"), id="other-format"),
        pytest.param(_document(digest="AB" * 32), id="uppercase-digest"),
        pytest.param(_document(digest="ab" * 31), id="short-digest"),
        pytest.param(_document(revision="main"), id="revision-not-a-commit"),
        pytest.param(_document(project=""), id="empty-project"),
        pytest.param(_document(environment=7), id="environment-not-a-string"),
        pytest.param(_document(created_at=True), id="bool-time"),
        pytest.param(_document(created_at=1700000000), id="int-time-not-canonical"),
        pytest.param(_document(created_at=-1.0), id="negative-time"),
        pytest.param(b"[]", id="array"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"created_at":NaN}', id="nan"),
    ],
)
def test_parse_refuses_anything_but_the_canonical_form(data: bytes) -> None:
    with pytest.raises(ApprovalFormatError):
        ApprovalPayload.parse(data)


@pytest.mark.parametrize(
    ("project", "created_at"),
    [("shop", float("inf")), ("shop", float("nan")), ("sh\nop", 1.0), ("\ud800", 1.0)],
)
def test_a_payload_that_cannot_be_shown_or_signed_is_refused_when_made(
    project: str, created_at: float
) -> None:
    # Control characters, line separators and lone surrogates could disguise a name.
    with pytest.raises(ApprovalFormatError):
        ApprovalPayload(project, "prod", DIGEST, REVISION, created_at)


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_parse_either_round_trips_or_raises_the_format_error(data: bytes) -> None:
    try:
        payload = ApprovalPayload.parse(data)
    except ApprovalFormatError:
        return
    assert payload.canonical() == data


@given(
    project=st.text(min_size=1).filter(str.isprintable),
    environment=st.text(min_size=1).filter(str.isprintable),
    digest=st.text("0123456789abcdef", min_size=64, max_size=64),
    revision=st.text("0123456789abcdef", min_size=40, max_size=40),
    created_at=st.floats(min_value=0, max_value=1e12),
)
def test_every_valid_payload_round_trips(
    project: str, environment: str, digest: str, revision: str, created_at: float
) -> None:
    payload = ApprovalPayload(project, environment, digest, revision, created_at)
    assert ApprovalPayload.parse(payload.canonical()) == payload
