"""The fast "valid?" answer agrees with jsonschema, in both of fastjsonschema's forms."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft7Validator

from gitcops.model.schema import SchemaCache
from gitcops.providers.local import schemas

from .test_project_schema import _project

SPECS: list[dict[str, Any]] = [
    {"path": "a", "content": "x"},
    {"path": "a", "content": "x", "mode": "0644"},
    {"path": "a", "source": "f.txt"},
    {"path": "a", "contentBase64": "eA=="},
    {"path": "a"},
    {"path": "a", "content": "x", "source": "f"},
    {"path": "", "content": "x"},
    {"path": "a", "content": "x", "mode": "644x"},
    {"path": "a", "content": "x", "owner": "root"},
    {"path": "a", "target": "b"},
    {"http": {"url": "http://x", "expectStatus": 200}},
    {"http": {"url": "ftp://x"}},
    {"tcp": {"port": 0}},
    {"command": {"argv": []}},
]
CONST = {
    "type": "object",
    "properties": {
        "kind": {"const": "Project", "allOf": [{"type": "string"}]},
        "n": {"type": "integer"},
        "const": {"type": "string"},  # a property named like the keyword
        "pair": {"type": "array", "items": [{"const": 1}, {"enum": [2, 3]}]},
    },
    "required": ["kind"],
}


@pytest.mark.parametrize(
    "schema", [schemas.FILE, schemas.DIRECTORY, schemas.SYMLINK, schemas.HEALTH_CHECK, CONST]
)
def test_valid_agrees_with_jsonschema(schema: dict[str, Any]) -> None:
    cache = SchemaCache()
    for spec in [
        *SPECS,
        {"kind": "Project"},
        {"kind": "Other"},
        {"kind": "Project", "n": "1"},
        {"kind": "Project", "const": "x"},
        {"kind": "Project", "const": 1},
        {"kind": "Project", "pair": [1, 2]},
        {"kind": "Project", "pair": [2, 2]},
    ]:
        expected = not list(Draft7Validator(schema).iter_errors(spec))
        assert cache.valid(schema, spec) is expected, spec


def test_the_project_schema_agrees_with_jsonschema() -> None:
    from gitcops.model import project

    schema = project._SCHEMA_SANS_POLICY

    good = _project()
    variants = [
        good,
        {**good, "apiVersion": "gitcops.io/v2"},
        {**good, "kind": "Projects"},
        {**good, "spec": {"environments": []}},
        {**good, "extra": 1},
    ]
    cache = SchemaCache()
    for doc in variants:
        expected = not list(Draft7Validator(schema).iter_errors(doc))
        assert cache.valid(schema, doc) is expected, doc
    assert cache.valid(schema, good)


@pytest.mark.parametrize("name", ["FILE", "HEALTH_CHECK", "project"])
def test_the_short_form_compiles_without_falling_back(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fastjsonschema

    from gitcops.model import project, schema

    calls: list[bool] = []
    real = fastjsonschema.compile

    def recording(definition: Any, **options: Any) -> Any:
        calls.append(options.get("detailed_exceptions", True))
        return real(definition, **options)

    monkeypatch.setattr(fastjsonschema, "compile", recording)
    target = project._SCHEMA_SANS_POLICY if name == "project" else getattr(schemas, name)
    schema._compile_fast(target)
    assert calls == [False]


def test_const_goes_after_an_existing_all_of() -> None:
    from gitcops.model.schema import _const_as_enum

    rewritten = _const_as_enum({"const": 1, "allOf": [{"type": "integer"}]})
    assert rewritten == {"allOf": [{"type": "integer"}, {"enum": [1]}]}
