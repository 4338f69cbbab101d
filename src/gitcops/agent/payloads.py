"""What a notification says, for each type of sink: pure functions of the event.

`generic` is the webhook payload, whose schema is gitcops.schemas.notification_schema()
(docs/schemas/notification/v1/Notification.schema.json); `slack` is a message for Slack's
incoming webhooks (and the services that accept their format): `text` for the notification
itself, `blocks` for the message. Neither adds anything the event does not hold: an event's
details name fields, never values, and so do the payloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitcops.agent.notify import NotificationEvent

API_VERSION = "gitcops.io/notification/v1"
KIND = "Notification"

TITLES = {
    "applied": "Applied",
    "failed": "Failed",
    "rolledBack": "Rolled back",
    "driftDetected": "Drift detected",
    "driftHealed": "Drift healed",
    "sourceUnreachable": "Source unreachable",
}
_ICONS = {
    "applied": ":white_check_mark:",
    "failed": ":x:",
    "rolledBack": ":rewind:",
    "driftDetected": ":warning:",
    "driftHealed": ":adhesive_bandage:",
    "sourceUnreachable": ":electric_plug:",
}

# Slack's limits (api.slack.com/reference/block-kit/blocks): longer texts are refused whole.
HEADER_LIMIT = 150
TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
DETAILS_SHOWN = 10  # resources listed in a Slack message; the rest are counted


def generic(event: NotificationEvent, notification_id: str, time: float) -> dict[str, Any]:
    """The webhook payload (Notification.schema.json): every field present, null when absent."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "id": notification_id,
        "event": str(event.kind),
        "project": event.project,
        "environment": event.environment,
        "revision": event.revision,
        "run": event.run_id,
        "time": time,
        "message": event.message,
        "summary": dict(event.summary),
        "details": [
            {
                "resource": d.resource,
                "state": d.state,
                "fields": list(d.fields),
                "message": d.message or None,
            }
            for d in event.details
        ],
        "auditHead": event.audit_head.as_json() if event.audit_head is not None else None,
    }


def scope(event: NotificationEvent) -> str:
    return f"{event.project}/{event.environment}" if event.environment else event.project


def title(event: NotificationEvent) -> str:
    """`Drift detected: shop/prod`."""
    return f"{TITLES.get(event.kind, str(event.kind))}: {scope(event)}"


def counts(summary: Mapping[str, int]) -> str:
    """`2 created, 1 configured`: the counts that are not zero, in the summary's order."""
    return ", ".join(f"{n} {name}" for name, n in summary.items() if n)


def slack(event: NotificationEvent, notification_id: str, time: float) -> dict[str, Any]:
    """A Slack message: a header, the message, fields (project, environment, revision, run,
    counts), the resources concerned, and the audit head in a context block."""
    head = title(event)
    fallback = head
    if event.revision:
        fallback += f" at {event.revision[:12]}"
    if event.message:
        fallback += f": {event.message}"
    fields = [("Project", event.project), ("Environment", event.environment or "(all)")]
    fields.append(("Revision", f"`{event.revision[:12]}`" if event.revision else "-"))
    fields.append(("Run", f"#{event.run_id}" if event.run_id is not None else "-"))
    summary = counts(event.summary)
    if summary:
        fields.append(("Summary", summary))
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(f"{_ICONS.get(event.kind, '')} {head}".strip(), HEADER_LIMIT),
                "emoji": True,
            },
        }
    ]
    if event.message:
        blocks.append(_section(escape(event.message)))
    blocks.append(
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{name}*\n{escape(value)}", FIELD_LIMIT)}
                for name, value in fields
            ],
        }
    )
    if event.details:
        blocks.append(_section(_details(event)))
    head_text = (
        f"audit head `{event.audit_head}`" if event.audit_head is not None else "audit log empty"
    )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{head_text} · notification {notification_id}"}
            ],
        }
    )
    return {"text": _cut(escape(fallback), TEXT_LIMIT), "blocks": blocks}


def _details(event: NotificationEvent) -> str:
    lines = []
    for d in event.details[:DETAILS_SHOWN]:
        line = f"• `{escape(d.resource)}` {escape(d.state)}"
        if d.fields:
            line += ": " + ", ".join(escape(f) for f in d.fields)
        if d.message:
            line += f" ({escape(d.message)})"
        lines.append(line)
    more = len(event.details) - DETAILS_SHOWN
    if more > 0:
        lines.append(f"… and {more} more")
    return "\n".join(lines)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, TEXT_LIMIT)}}


def escape(text: str) -> str:
    """Slack's mrkdwn escapes: &, < and > (which would start a link or a mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
