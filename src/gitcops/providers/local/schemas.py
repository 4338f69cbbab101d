"""JSON Schemas of the local provider's kinds (the `spec` of each document)."""

from __future__ import annotations

from typing import Any

CONFIG: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["root"],
    "description": "Settings of a local provider instance (providers.local in gitcops.yaml).",
    "properties": {
        "root": {
            "type": "string",
            "minLength": 1,
            "description": "The directory every path is relative to; relative to the "
            "repository's work tree (the current directory for a remote URL), ~ expanded.",
        },
        "allowFilesystemRoot": {
            "type": "boolean",
            "default": False,
            "description": "Let root be the filesystem root (/), so that any path on the "
            "machine may be managed; refused unless set.",
        },
    },
}

_PATH: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "description": "Relative to the provider root; may not leave it.",
}
_MODE: dict[str, Any] = {
    "type": "string",
    "pattern": "^0?[0-7]{3}$",
    "description": 'Octal permission bits as a string, e.g. "0644".',
}

FILE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": _PATH,
        "content": {"type": "string"},
        "contentBase64": {"type": "string", "contentEncoding": "base64"},
        "source": {"type": "string", "minLength": 1},
        "mode": _MODE,
    },
    "oneOf": [
        {"required": ["content"]},
        {"required": ["contentBase64"]},
        {"required": ["source"]},
    ],
}

DIRECTORY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {"path": _PATH, "mode": _MODE},
}

SYMLINK: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path", "target"],
    "properties": {"path": _PATH, "target": {"type": "string", "minLength": 1}},
}

HEALTH_CHECK: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "http": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "pattern": "^https?://"},
                "expectStatus": {"type": "integer", "minimum": 100, "maximum": 599},
            },
        },
        "tcp": {
            "type": "object",
            "additionalProperties": False,
            "required": ["port"],
            "properties": {
                "host": {"type": "string", "minLength": 1},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            },
        },
        "command": {
            "type": "object",
            "additionalProperties": False,
            "required": ["argv"],
            "properties": {
                "argv": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            },
        },
        "timeoutSeconds": {"type": "number", "exclusiveMinimum": 0},
        "retries": {"type": "integer", "minimum": 0, "maximum": 100},
        "intervalSeconds": {"type": "number", "minimum": 0},
    },
    "oneOf": [{"required": ["http"]}, {"required": ["tcp"]}, {"required": ["command"]}],
}
