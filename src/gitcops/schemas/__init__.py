"""JSON Schemas (draft 2020-12) of every `-o json` output, saved plan files and notifications.

The schemas are the package's JSON files next to this module (docs/schemas holds a copy, kept
byte-identical by a test): `cli/v1/<Kind>.schema.json` per output kind, `plan/v1/Plan.schema.json`
for `plan --out`, `notification/v1/Notification.schema.json` for what the agent sends to webhooks,
and `cli/v1/definitions.schema.json` for what they share. They refer to each
other by relative `$ref`s resolved against their `$id`s (under BASE_URI), so a consumer loads
them all (`schema_documents`) into its registry, or asks for a ready validator.

Importing this module imports json and pathlib only (the CLI imports both anyway); jsonschema is
imported when a validator is asked for. The files are found next to this module rather than
through importlib.resources, which would cost ~20 ms more.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

BASE_URI = "https://gitcops.io/schemas/"

# Every kind `-o json` emits (`{"apiVersion": "gitcops.io/cli/v1", "kind": KIND, ...}`).
OUTPUT_KINDS = (
    "ValidationResult",
    "Plan",
    "ApplyResult",
    "DriftReport",
    "Status",
    "History",
    "AuditVerification",
    "AuditLog",
    "Preview",
    "Approvals",
)

_ROOT = Path(__file__).parent
_PLAN_FILE = "plan/v1/Plan.schema.json"
_NOTIFICATION = "notification/v1/Notification.schema.json"


def _load(relative: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((_ROOT / relative).read_text(encoding="utf-8"))
    return document


def output_schema(kind: str) -> dict[str, Any]:
    """The schema of `-o json` output of this kind (a fresh copy: callers may change it)."""
    if kind not in OUTPUT_KINDS:
        raise KeyError(f"no JSON output kind {kind!r}; the kinds are {', '.join(OUTPUT_KINDS)}")
    return _load(f"cli/v1/{kind}.schema.json")


def plan_file_schema() -> dict[str, Any]:
    """The schema of a saved plan file (`plan --out`, format gitcops.io/plan/v1)."""
    return _load(_PLAN_FILE)


def notification_schema() -> dict[str, Any]:
    """The schema of a webhook notification (apiVersion gitcops.io/notification/v1)."""
    return _load(_NOTIFICATION)


def schema_documents() -> dict[str, dict[str, Any]]:
    """Every schema document, shared definitions included, by its `$id`."""
    documents = [_load(str(path.relative_to(_ROOT))) for path in sorted(_ROOT.rglob("*.json"))]
    return {document["$id"]: document for document in documents}


def output_validator(kind: str) -> Validator:
    """A validator (jsonschema, formats checked) for `-o json` output of this kind."""
    return _validator(output_schema(kind))


def plan_file_validator() -> Validator:
    """A validator (jsonschema, formats checked) for saved plan files."""
    return _validator(plan_file_schema())


def notification_validator() -> Validator:
    """A validator (jsonschema, formats checked) for webhook notifications."""
    return _validator(notification_schema())


def _validator(schema: dict[str, Any]) -> Validator:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(document, default_specification=DRAFT202012))
        for uri, document in schema_documents().items()
    )
    return Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
