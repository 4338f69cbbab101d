"""The payloads: the generic one against its published schema (which is strict), Slack's
within Slack's limits and escapes; and what error texts keep of a URL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitcops.agent import payloads
from gitcops.agent.notify import NotificationEvent, ResourceDetail, SinkInfo, _Target
from gitcops.model.project import EventKind, NotificationSink, Project
from gitcops.schemas import notification_validator
from gitcops.state.records import AuditHead

HEAD = AuditHead(42, "0e55b58ba0dc73d3e3042bffedf890653eea5e8d4c89cf385d5ffe5b9756b4a7")
COMMIT = "3f2bcedb2739bda5b1156b399895b1f3bab3e1d2"
ID = "5b0c8f3a9d2e4f61a7b8c9d0e1f2a3b4"
DRIFTED = (
    ResourceDetail("local.gitcops.io/File/motd", "modified", ("content", "mode")),
    ResourceDetail("local.gitcops.io/Directory/etc", "missing"),
)


def _event(**fields: Any) -> NotificationEvent:
    base: dict[str, Any] = {
        "kind": EventKind.DRIFT_DETECTED,
        "project": "shop",
        "environment": "prod",
        "revision": COMMIT,
        "run_id": None,
        "message": "2 of 12 resources drifted",
        "audit_head": HEAD,
        "summary": {"checked": 12, "drifted": 2},
        "details": DRIFTED,
    }
    return NotificationEvent(**{**base, **fields})


def _problems(payload: dict[str, Any]) -> list[str]:
    return [e.message for e in notification_validator().iter_errors(payload)]


EVENTS = [
    _event(),
    _event(kind=EventKind.APPLIED, run_id=7, summary={"created": 1, "unchanged": 9}, details=()),
    _event(
        kind=EventKind.FAILED,
        run_id=8,
        details=(ResourceDetail("local.gitcops.io/File/motd", "failed", (), "permission denied"),),
    ),
    _event(kind=EventKind.ROLLED_BACK, run_id=9),
    _event(kind=EventKind.DRIFT_HEALED, run_id=10),
    _event(
        kind=EventKind.SOURCE_UNREACHABLE,
        environment=None,
        revision=None,
        audit_head=None,
        summary={},
        details=(),
        message="fetching the repository failed: connection refused",
    ),
]


@pytest.mark.parametrize("event", EVENTS, ids=[str(e.kind) for e in EVENTS])
def test_every_event_makes_a_valid_generic_payload(event: NotificationEvent) -> None:
    payload = payloads.generic(event, ID, 1790000000.5)
    assert _problems(payload) == []
    assert payload["event"] == str(event.kind)
    assert json.loads(json.dumps(payload)) == payload


def test_the_generic_payload_holds_the_event() -> None:
    payload = payloads.generic(_event(), ID, 1790000000.5)
    assert payload == {
        "apiVersion": "gitcops.io/notification/v1",
        "kind": "Notification",
        "id": ID,
        "event": "driftDetected",
        "project": "shop",
        "environment": "prod",
        "revision": COMMIT,
        "run": None,
        "time": 1790000000.5,
        "message": "2 of 12 resources drifted",
        "summary": {"checked": 12, "drifted": 2},
        "details": [
            {
                "resource": "local.gitcops.io/File/motd",
                "state": "modified",
                "fields": ["content", "mode"],
                "message": None,
            },
            {
                "resource": "local.gitcops.io/Directory/etc",
                "state": "missing",
                "fields": [],
                "message": None,
            },
        ],
        "auditHead": {"seq": 42, "hash": HEAD.hash},
    }


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"event": "applyFailed"}, "is not one of"),
        ({"auditHead": {"seq": 0, "hash": HEAD.hash}}, "is not valid under any"),
        ({"auditHead": {"seq": 1, "hash": "xyz"}}, "is not valid under any"),
        ({"revision": "main"}, "is not valid under any"),
        ({"summary": {"created": -1}}, "less than the minimum"),
        ({"id": "not-an-id"}, "does not match"),
        ({"extra": 1}, "Additional properties"),
        ({"details": [{"resource": "motd", "state": "x", "fields": [], "message": None}]}, "match"),
    ],
)
def test_the_schema_is_strict(change: dict[str, Any], problem: str) -> None:
    payload = {**payloads.generic(_event(), ID, 1790000000.5), **change}
    problems = _problems(payload)
    assert problems and any(problem in p for p in problems), problems


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [t for value in node.values() for t in _texts(value)]
    if isinstance(node, list):
        return [t for value in node for t in _texts(value)]
    return [node] if isinstance(node, str) else []


def test_the_slack_payload() -> None:
    message = payloads.slack(_event(run_id=12), ID, 1790000000.5)
    assert set(message) == {"text", "blocks"}
    assert message["text"] == (
        "Drift detected: shop/prod at 3f2bcedb2739: 2 of 12 resources drifted"
    )
    header, text, fields, details, context = message["blocks"]
    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": ":warning: Drift detected: shop/prod",
            "emoji": True,
        },
    }
    assert text["text"] == {"type": "mrkdwn", "text": "2 of 12 resources drifted"}
    assert [f["text"] for f in fields["fields"]] == [
        "*Project*\nshop",
        "*Environment*\nprod",
        "*Revision*\n`3f2bcedb2739`",
        "*Run*\n#12",
        "*Summary*\n12 checked, 2 drifted",
    ]
    assert details["text"]["text"] == (
        "• `local.gitcops.io/File/motd` modified: content, mode\n"
        "• `local.gitcops.io/Directory/etc` missing"
    )
    assert context == {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": f"audit head `42:{HEAD.hash}` · notification {ID}"}
        ],
    }


def test_a_slack_payload_without_the_optional_parts() -> None:
    event = EVENTS[-1]  # sourceUnreachable: no environment, revision, run, head or details
    message = payloads.slack(event, ID, 1.0)
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "context"]
    fields = [f["text"] for f in message["blocks"][2]["fields"]]
    assert fields == ["*Project*\nshop", "*Environment*\n(all)", "*Revision*\n-", "*Run*\n-"]
    assert message["blocks"][-1]["elements"][0]["text"].startswith("audit log empty")
    assert message["text"] == (
        "Source unreachable: shop: fetching the repository failed: connection refused"
    )


def test_slack_limits_and_escapes() -> None:
    many = tuple(
        ResourceDetail(f"local.gitcops.io/File/f{i}", "modified", ("content",)) for i in range(25)
    )
    event = _event(
        message="<!channel> & " + "x" * 5000,
        project="p" * 100,
        environment="e" * 60,
        details=many,
    )
    message = payloads.slack(event, ID, 1.0)
    header, text, fields, details, _ = message["blocks"]
    assert len(header["text"]["text"]) <= payloads.HEADER_LIMIT
    assert text["text"]["text"].startswith("&lt;!channel&gt; &amp; xxx")  # no @channel ping
    assert len(text["text"]["text"]) == payloads.TEXT_LIMIT
    assert len(message["text"]) <= payloads.TEXT_LIMIT
    assert all(len(f["text"]) <= payloads.FIELD_LIMIT for f in fields["fields"])
    assert len(fields["fields"]) <= 10
    lines = details["text"]["text"].split("\n")
    assert len(lines) == payloads.DETAILS_SHOWN + 1 and lines[-1] == "… and 15 more"
    assert all("<" not in t and ">" not in t for t in _texts(message))


def test_error_texts_keep_only_the_scheme_and_host() -> None:
    url = "https://bot:pa55word@hooks.example.com:8443/services/T0/B0/s3cr3tT0ken?token=abcd1234"
    target = _Target(
        SinkInfo(0, "slack", "hooks.example.com"), NotificationSink("slack", frozenset()), url
    )
    texts = [
        f"Invalid URL '{url}'",
        "failed: hooks.example.com:8443/services/T0/B0/s3cr3tT0ken?token=abcd1234 (reset)",
        "at /services/T0/B0/s3cr3tT0ken, query token=abcd1234, auth bot:pa55word",
        "value s3cr3tT0ken or abcd1234 or pa55word",
    ]
    for text in texts:
        scrubbed = target.scrub(text)
        for secret in ("s3cr3tT0ken", "abcd1234", "pa55word"):
            assert secret not in scrubbed, scrubbed
    assert "hooks.example.com" in target.scrub(texts[1])
    assert repr(target) == "<notification sink 0 (slack, hooks.example.com)>"


# -- docs/notifications.md ------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


def _blocks(language: str) -> list[str]:
    text = DOCS.read_text()
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_docs_examples_are_what_gitcops_sends() -> None:
    """The generic example matches the schema; both examples are exactly what the payload
    functions make of the event the generic one describes."""
    generic, slack = (json.loads(block) for block in _blocks("json"))
    assert _problems(generic) == []
    event = NotificationEvent(
        kind=EventKind(generic["event"]),
        project=generic["project"],
        environment=generic["environment"],
        revision=generic["revision"],
        run_id=generic["run"],
        message=generic["message"],
        audit_head=AuditHead(**generic["auditHead"]),
        summary=generic["summary"],
        details=tuple(
            ResourceDetail(d["resource"], d["state"], tuple(d["fields"]), d["message"] or "")
            for d in generic["details"]
        ),
    )
    assert payloads.generic(event, generic["id"], generic["time"]) == generic
    assert payloads.slack(event, generic["id"], generic["time"]) == slack


def test_the_docs_configuration_is_valid() -> None:
    [config] = [b for b in _blocks("yaml") if "kind: Project" in b]
    project = Project.parse(yaml.safe_load(config))
    assert [s.type for s in project.spec.notifications] == ["slack", "webhook"]
