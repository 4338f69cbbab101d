"""The agent's log: one line per event on stderr, JSON (for log pipelines) or text (for people).

Every record names its event and, where there is one, the environment, revision, run and
resource (passed as `extra=`). Messages are built by gitcops from ids, revisions and counts:
they never hold a spec value, so never a secret.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

FIELDS = ("event", "environment", "revision", "run", "resource", "forge", "outcome", "reason")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = f"{type(error).__name__}: {error}"
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        tags = " ".join(
            f"{name}={getattr(record, name)}"
            for name in FIELDS[1:]
            if getattr(record, name, None) is not None
        )
        text = f"{when} {record.levelname.lower():<7} {record.getMessage()}"
        if tags:
            text += f" [{tags}]"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f" ({type(error).__name__}: {error})"
        return text


def configure(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """Send gitcops' loggers (agent, api) to `stream` (stderr) in one format; returns the
    handler, for the caller to remove when done."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger("gitcops")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    return handler
