"""JSON Schema validation of a resource's spec, one compiled validator per kind.

fastjsonschema compiles each schema to Python and answers "valid?" about ten times faster,
but stops at the first problem; only for a document that fails does jsonschema run, to report
every problem in it. Valid documents, the common case, never import jsonschema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import fastjsonschema

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError


class SchemaCache:
    def __init__(self) -> None:
        self._fast: dict[int, Callable[[Any], Any]] = {}
        self._full: dict[int, Any] = {}

    def errors(
        self, schema: Mapping[str, Any], spec: Any
    ) -> Iterator[tuple[tuple[str | int, ...], str]]:
        key = id(schema)
        fast = self._fast.get(key)
        if fast is None:
            fast = self._fast[key] = fastjsonschema.compile(dict(schema))
        try:
            fast(spec)
            return
        except fastjsonschema.JsonSchemaException:
            pass
        full = self._full.get(key)
        if full is None:
            from jsonschema import Draft7Validator

            full = self._full[key] = Draft7Validator(schema)
        for error in sorted(full.iter_errors(spec), key=lambda e: list(map(str, e.path))):
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
