"""spec.notifications in gitcops.yaml: every bad shape is a diagnostic naming gitcops.yaml, the
document and the field path; plain URLs that carry credentials are refused without repeating
them; good entries become NotificationSinks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitcops.model.errors import InvalidInputError
from gitcops.model.project import (
    NOTIFICATION_EVENTS,
    SCHEMA,
    NotificationSink,
    Project,
    UrlRef,
    _surely_valid,
    url_problem,
)
from gitcops.model.schema import schema_problems

HOOK = "https://hooks.example.com/gitcops"
REF = {"file": "secrets/hooks.sops.yaml", "key": "slack"}


def _project(*notifications: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gitcops.io/v1",
        "kind": "Project",
        "metadata": {"name": "demo"},
        "spec": {
            "environments": [
                {"name": "dev", "path": "environments/dev"},
                {"name": "prod", "path": "environments/prod"},
            ],
            "providers": {"local": {"root": "/tmp/x"}},
            "notifications": list(notifications),
        },
    }


def _webhook(**fields: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": HOOK, "events": ["failed"], **fields}


def test_good_entries_become_sinks() -> None:
    project = Project.parse(
        _project(
            {"type": "slack", "urlRef": REF, "events": ["failed", "driftDetected"]},
            _webhook(events=list(NOTIFICATION_EVENTS), environments=["prod"], url=f" {HOOK} "),
            {"type": "webhook", "urlRef": {"file": "./secrets//bin.sops"}, "events": ["applied"]},
        )
    )
    slack, webhook, binary = project.spec.notifications
    assert slack == NotificationSink(
        "slack", frozenset({"failed", "driftDetected"}), None, None, UrlRef(REF["file"], "slack")
    )
    assert webhook == NotificationSink(
        "webhook", frozenset(NOTIFICATION_EVENTS), ("prod",), HOOK, None
    )
    assert binary.url_ref == UrlRef("secrets/bin.sops", None)
    assert slack.wants("failed", "dev") and slack.wants("failed", None)
    assert not slack.wants("applied", "dev")
    assert webhook.wants("applied", "prod") and webhook.wants("sourceUnreachable", None)
    assert not webhook.wants("applied", "dev")


def test_no_notifications_by_default() -> None:
    document = _project()
    del document["spec"]["notifications"]
    assert Project.parse(document).spec.notifications == ()
    assert Project.parse(_project()).spec.notifications == ()


# (label, entries, [(path, part of the message)]): every problem, each at its path.
BAD: list[tuple[str, list[Any], list[tuple[str, str]]]] = [
    ("not a list", ["x"], [("spec.notifications[0]", "is not of type 'object'")]),
    (
        "an unknown type",
        [_webhook(type="email")],
        [("spec.notifications[0].type", "'email' is not one of ['webhook', 'slack']")],
    ),
    (
        "neither url nor urlRef",
        [{"type": "slack", "events": ["failed"]}],
        [("spec.notifications[0]", "exactly one of url, urlRef must be set")],
    ),
    (
        "both url and urlRef",
        [_webhook(), _webhook(urlRef=REF)],
        [("spec.notifications[1]", "exactly one of url, urlRef must be set")],
    ),
    (
        "no events",
        [{"type": "webhook", "url": HOOK}],
        [("spec.notifications[0]", "'events' is required")],
    ),
    (
        "empty events",
        [_webhook(events=[])],
        [("spec.notifications[0].events", "should be non-empty")],
    ),
    (
        "an unknown event",
        [_webhook(), _webhook(events=["failed", "apply"])],
        [("spec.notifications[1].events[1]", "'apply' is not one of ['applied', 'failed'")],
    ),
    (
        "an event twice",
        [_webhook(events=["failed", "failed"])],
        [("spec.notifications[0].events", "has non-unique elements")],
    ),
    (
        "events not a list",
        [_webhook(events="failed")],
        [("spec.notifications[0].events", "is not of type 'array'")],
    ),
    (
        "an unknown field",
        [_webhook(headers={"a": "b"})],
        [("spec.notifications[0].headers", "unknown field")],
    ),
    (
        "an empty url",
        [_webhook(url="")],
        [("spec.notifications[0].url", "should be non-empty")],
    ),
    (
        "urlRef without file",
        [{"type": "slack", "urlRef": {"key": "k"}, "events": ["failed"]}],
        [("spec.notifications[0].urlRef", "'file' is required")],
    ),
    (
        "urlRef with another field",
        [{"type": "slack", "urlRef": {**REF, "value": "x"}, "events": ["failed"]}],
        [("spec.notifications[0].urlRef.value", "unknown field")],
    ),
    (
        "urlRef with an empty key",
        [{"type": "slack", "urlRef": {**REF, "key": ""}, "events": ["failed"]}],
        [("spec.notifications[0].urlRef.key", "should be non-empty")],
    ),
    (
        "empty environments",
        [_webhook(environments=[])],
        [("spec.notifications[0].environments", "should be non-empty")],
    ),
    (
        "an environment name not a string",
        [_webhook(environments=["dev", 3])],
        [("spec.notifications[0].environments[1]", "3 is not of type 'string'")],
    ),
    # Semantic problems (found once the shape is right): all of them at once.
    (
        "unknown environments",
        [_webhook(environments=["dev", "stage"]), _webhook(environments=["qa"])],
        [
            (
                "spec.notifications[0].environments[1]",
                "environment 'stage' is not in gitcops.yaml (dev, prod)",
            ),
            ("spec.notifications[1].environments[0]", "environment 'qa' is not in gitcops.yaml"),
        ],
    ),
    (
        "urlRef leaving the repository",
        [{"type": "slack", "urlRef": {"file": "../hooks.sops.yaml"}, "events": ["failed"]}],
        [("spec.notifications[0].urlRef.file", "'../hooks.sops.yaml' leaves the repository")],
    ),
    (
        "urlRef absolute",
        [{"type": "slack", "urlRef": {"file": "/etc/hooks.sops.yaml"}, "events": ["failed"]}],
        [("spec.notifications[0].urlRef.file", "is absolute")],
    ),
    (
        "a url with credentials, another with a token",
        [
            _webhook(url="https://bot:hunter2@hooks.example.com/x"),
            _webhook(),
            _webhook(url="https://hooks.example.com/x?channel=ops&token=hunter2"),
        ],
        [
            (
                "spec.notifications[0].url",
                "holds credentials (user:password@): keep it in a SOPS file and refer to it "
                "with urlRef",
            ),
            ("spec.notifications[2].url", "its query has a parameter named like a credential"),
        ],
    ),
    (
        "a Slack webhook url",
        [
            {
                "type": "slack",
                "url": "https://hooks.slack.com/services/T0/B0/hunter2",
                "events": ["failed"],
            }
        ],
        [
            (
                "spec.notifications[0].url",
                "a webhook URL of hooks.slack.com is itself a credential: keep it in a SOPS "
                "file and refer to it with urlRef: {file, key}",
            )
        ],
    ),
    (
        "not http",
        [_webhook(url="ftp://hooks.example.com/x"), _webhook(url="hooks.example.com/x")],
        [
            ("spec.notifications[0].url", "must be an http:// or https:// URL with a host"),
            ("spec.notifications[1].url", "must be an http:// or https:// URL with a host"),
        ],
    ),
    (
        "a bad port",
        [_webhook(url="https://hooks.example.com:99999999/x")],
        [("spec.notifications[0].url", "is not a valid URL")],
    ),
]


@pytest.mark.parametrize(("label", "entries", "expected"), BAD, ids=[b[0] for b in BAD])
def test_every_bad_shape_is_a_diagnostic_at_its_path(
    label: str, entries: list[Any], expected: list[tuple[str, str]]
) -> None:
    document = _project(*entries)
    with pytest.raises(InvalidInputError) as caught:
        Project.parse(copy.deepcopy(document))
    found = [(d.file, d.document, d.__str__()) for d in caught.value.diagnostics]
    assert len(found) == len(expected), found
    for (file, where, text), (path, message) in zip(found, expected, strict=True):
        assert (file, where) == ("gitcops.yaml", "document 1 (Project)")
        assert text.startswith(f"gitcops.yaml: document 1 (Project): field {path}: "), text
        assert message in text, text
        assert "hunter2" not in text  # a refused URL is never repeated
    # The fast check (notifications compiled apart) agrees with the whole schema.
    assert _surely_valid(document) is (schema_problems(SCHEMA, document) == [])


@pytest.mark.parametrize(
    "url",
    [
        "https://user@hooks.example.com/x",
        "https://:pw@hooks.example.com/x",
        "https://hooks.example.com/x?access_token=1",
        "https://hooks.example.com/x?X-Api-Key=1",
        "https://hooks.example.com/x?client_secret=1",
        "https://hooks.example.com/x?sig=1&a=b",
        "https://hooks.example.com/x?Signature=1",
        "https://hooks.example.com/x?key=1",
        "https://hooks.example.com/x?password=1",
        "https://hooks.example.com/x?auth=1",
        "https://hooks.example.com/x?token",
        "https://HOOKS.SLACK.COM/services/T0/B0/x",
        "https://hooks.slack.com/workflows/T0/A0/1/x",
        "https://discord.com/api/webhooks/1/x",
        "https://acme.webhook.office.com/webhookb2/x",
        "https://chat.googleapis.com/v1/spaces/A/messages?x=1",
    ],
)
def test_urls_that_carry_credentials_are_refused(url: str) -> None:
    problem = url_problem(url)
    assert problem is not None and "urlRef" in problem


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/gitcops",
        "http://127.0.0.1:8080/hook?channel=ops&format=json",
        "https://hooks.slack.com/",
        "https://discord.com/channels/1",
        "https://alerts.example.com/api/v1/events?source=gitcops&monkeys=3",
    ],
)
def test_plain_urls_without_credentials_are_fine(url: str) -> None:
    assert url_problem(url) is None
