"""JSON Schema validation of a resource's spec, one compiled validator per kind."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError


class SchemaCache:
    def __init__(self) -> None:
        self._validators: dict[int, Draft202012Validator] = {}

    def errors(
        self, schema: Mapping[str, Any], spec: Any
    ) -> Iterator[tuple[tuple[str | int, ...], str]]:
        key = id(schema)
        validator = self._validators.get(key)
        if validator is None:
            validator = Draft202012Validator(schema)
            self._validators[key] = validator
        for error in sorted(validator.iter_errors(spec), key=lambda e: list(map(str, e.path))):
            yield ("spec", *error.absolute_path), _message(error)


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return str(error.message).replace("Additional properties are not allowed", "unknown field")
    if error.validator == "oneOf":
        options = [
            " + ".join(sub.get("required", []))
            for sub in cast(list[dict[str, Any]], error.validator_value)
            if "required" in sub
        ]
        if options:
            return f"exactly one of {', '.join(options)} must be set"
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required")
    return str(error.message)
