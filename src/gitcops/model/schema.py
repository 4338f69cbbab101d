"""JSON Schema validation of documents (resource specs, the Project), one compiled validator each.

fastjsonschema compiles each schema to Python and answers "valid?" about ten times faster,
but stops at the first problem; only for a document that fails does jsonschema run, to report
every problem in it. Valid documents, the common case, never import jsonschema.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import fastjsonschema

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError


class SchemaCache:
    _shared: SchemaCache | None = None

    def __init__(self) -> None:
        self._fast: dict[int, Callable[[Any], Any]] = {}
        self._full: dict[int, Any] = {}

    @classmethod
    def shared(cls) -> SchemaCache:
        """One per process: compiled validators are keyed by the schema objects providers own."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def valid(self, schema: Mapping[str, Any], spec: Any) -> bool:
        key = id(schema)
        fast = self._fast.get(key)
        if fast is None:
            fast = self._fast[key] = _compile_fast(schema)
        try:
            fast(spec)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def errors(
        self, schema: Mapping[str, Any], spec: Any
    ) -> Iterator[tuple[tuple[str | int, ...], str]]:
        if self.valid(schema, spec):
            return
        key = id(schema)
        full = self._full.get(key)
        if full is None:
            from jsonschema import Draft7Validator

            full = self._full[key] = Draft7Validator(schema)
        for error in sorted(full.iter_errors(spec), key=lambda e: list(map(str, e.path))):
            path = tuple(error.absolute_path)
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                # One problem per unknown key, at the key itself: users look for the field.
                known = error.schema.get("properties", {})
                for key in sorted(k for k in error.instance if k not in known):
                    yield (*path, key), "unknown field"
                continue
            yield path, _message(error)


def _compile_fast(schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    """Only "valid or not?" is asked of it (jsonschema words the problems): without detailed
    exceptions its code is a third the size, compiles 2-3 times faster and rejects faster (a
    File spec's `oneOf` rejects twice per valid spec). fastjsonschema (2.22) cannot make that
    form of `const`, so it gets the equivalent one-value `enum`. Should anything else fail,
    the detailed form is compiled, where a real error of the schema shows."""
    with contextlib.suppress(Exception):
        return fastjsonschema.compile(_const_as_enum(schema), detailed_exceptions=False)
    return fastjsonschema.compile(dict(schema))


# Keywords whose value is a schema, a list of schemas, or a map of names to schemas.
_SCHEMA = frozenset({"additionalItems", "additionalProperties", "contains", "else", "if"})
_SCHEMA |= {"items", "not", "propertyNames", "then"}
_SCHEMAS = frozenset({"allOf", "anyOf", "oneOf"})
_NAMED = frozenset({"definitions", "$defs", "dependencies", "patternProperties", "properties"})


def _const_as_enum(schema: Any) -> Any:
    if not isinstance(schema, Mapping):
        return schema  # true, false, or a list of names under `dependencies`
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "const":
            continue  # after the others: an existing allOf keeps its indexes ($ref into it)
        if key in _SCHEMA:
            out[key] = (
                _const_as_enum(value)
                if not isinstance(value, list)
                else [_const_as_enum(v) for v in value]
            )
        elif key in _SCHEMAS:
            out.setdefault(key, []).extend(_const_as_enum(v) for v in value)
        elif key in _NAMED and isinstance(value, Mapping):
            out[key] = {name: _const_as_enum(v) for name, v in value.items()}
        else:
            out[key] = value
    if "const" in schema:
        out["allOf"] = [*out.get("allOf", []), {"enum": [schema["const"]]}]
    return out


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


_SHARED = SchemaCache()


def schema_problems(
    schema: Mapping[str, Any], document: Any
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every problem of `document` against `schema`, as (field path, message)."""
    return list(_SHARED.errors(schema, document))


def schema_valid(schema: Mapping[str, Any], document: Any) -> bool:
    """Whether `document` is valid, without collecting its problems (fast path only)."""
    return _SHARED.valid(schema, document)
