"""Results to stdout, progress and errors to stderr; JSON with a stable schema on request."""

from __future__ import annotations

import json
import sys
from typing import Any

JSON_SCHEMA_VERSION = "gitcops.io/cli/v1"


def emit_json(kind: str, payload: dict[str, Any]) -> None:
    """`payload` under the envelope; its schema is gitcops.schemas.output_schema(kind)."""
    clash = {"apiVersion", "kind"} & payload.keys()
    if clash:  # the payload would silently replace the envelope's keys
        raise ValueError(f"{kind} output may not have the key(s) {', '.join(sorted(clash))}")
    document = {"apiVersion": JSON_SCHEMA_VERSION, "kind": kind, **payload}
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def err(line: str) -> None:
    sys.stderr.write(line + "\n")


def colour_stdout() -> bool:
    return sys.stdout.isatty()
