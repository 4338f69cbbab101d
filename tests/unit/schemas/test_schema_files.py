"""The published JSON Schemas: valid, strict, every key described, one per emitted kind, shipped
in the package and published byte-identical under docs/schemas."""

from __future__ import annotations

import ast
import glob
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gitcops.schemas import (
    BASE_URI,
    OUTPUT_KINDS,
    output_schema,
    output_validator,
    plan_file_schema,
    schema_documents,
)

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "gitcops"
SCHEMAS = PACKAGE / "schemas"
DOCS = ROOT / "docs" / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
DOCUMENTS = schema_documents()
# Open to composition: closed by the schemas that use them (unevaluatedProperties: false).
FRAGMENTS = {BASE_URI + "cli/v1/definitions.schema.json#/$defs/PlanBody"}
# Keywords whose subschemas constrain (if/then/else) rather than declare: not walked for
# descriptions and closure.
CONDITIONAL = {"if", "then", "else", "not"}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json"))}


def _subschemas(node: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every declaring subschema (conditionals left out) with its JSON pointer."""
    if isinstance(node, dict):
        yield pointer, node
        for key, value in node.items():
            if key in CONDITIONAL:
                continue
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    yield from _subschemas(sub, f"{pointer}/{key}/{name}")
            elif isinstance(value, dict | list):
                yield from _subschemas(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _subschemas(item, f"{pointer}/{i}")


def _registry() -> Registry[Any]:
    return Registry().with_resources(
        (uri, Resource.from_contents(doc, default_specification=DRAFT202012))
        for uri, doc in DOCUMENTS.items()
    )


@pytest.mark.parametrize("uri", sorted(DOCUMENTS))
def test_each_schema_is_valid_and_its_id_is_where_it_lies(uri: str) -> None:
    document = DOCUMENTS[uri]
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == DRAFT
    assert (SCHEMAS / uri.removeprefix(BASE_URI)).is_file()  # relative $refs work on disk too
    assert document["title"] and document["description"]


def test_every_ref_resolves() -> None:
    registry = _registry()
    refs = [
        (uri, node["$ref"])
        for uri, document in DOCUMENTS.items()
        for _, node in _subschemas(document)
        if "$ref" in node
    ]
    for uri, ref in refs:
        registry.resolver(base_uri=uri).lookup(ref)  # raises when it does not resolve
    assert len(refs) > 50


def test_every_object_is_closed_or_open_on_purpose() -> None:
    """`properties` come with additionalProperties: false (or unevaluatedProperties: false);
    an object open to any key says so (additionalProperties: true, or a schema for values)."""
    loose = []
    for uri, document in DOCUMENTS.items():
        for pointer, node in _subschemas(document):
            where = f"{uri}#{pointer}"
            declares = "properties" in node or node.get("type") == "object"
            closed = "additionalProperties" in node or node.get("unevaluatedProperties") is False
            if declares and not closed and where not in FRAGMENTS:
                loose.append(where)
            if "properties" in node and node.get("additionalProperties") is True:
                loose.append(f"{where} (open, with properties)")
    assert loose == []


def test_fragments_are_only_used_closed() -> None:
    uses = [
        (f"{uri}#{pointer}", node)
        for uri, document in DOCUMENTS.items()
        for pointer, node in _subschemas(document)
        if "$ref" in node and urljoin(uri, node["$ref"]) in FRAGMENTS
    ]
    assert {where for where, _ in uses} == {
        BASE_URI + "cli/v1/Plan.schema.json#",
        BASE_URI + "plan/v1/Plan.schema.json#",
    }
    for where, node in uses:
        assert node.get("unevaluatedProperties") is False, where


def test_every_key_and_definition_is_described() -> None:
    missing = [
        f"{uri}#{pointer}"
        for uri, document in DOCUMENTS.items()
        for pointer, node in _subschemas(document)
        if pointer.rsplit("/", 2)[-2:-1] in (["properties"], ["$defs"])
        and not str(node.get("description", "")).strip()
    ]
    assert missing == []


def _emitted_kinds() -> set[str]:
    """The first argument of every emit_json(...) call in the CLI, which must be a literal."""
    kinds = set()
    for path in sorted((PACKAGE / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "emit_json"):
                continue
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"{path.name}:{node.lineno}: emit_json's kind must be a string literal"
            )
            kinds.add(first.value)
    return kinds


def test_every_emitted_kind_has_a_schema_and_every_schema_a_kind() -> None:
    files = {p.name.removesuffix(".schema.json") for p in (SCHEMAS / "cli" / "v1").glob("*.json")}
    assert _emitted_kinds() == set(OUTPUT_KINDS) == files - {"definitions"}
    for kind in OUTPUT_KINDS:
        schema = output_schema(kind)
        assert schema["$id"] == f"{BASE_URI}cli/v1/{kind}.schema.json"
        assert schema["properties"]["kind"]["const"] == kind
        assert "apiVersion" in schema["required"] and "kind" in schema["required"]


def test_the_envelope_is_the_one_emit_json_writes() -> None:
    from gitcops.cli.output import JSON_SCHEMA_VERSION

    definitions = DOCUMENTS[BASE_URI + "cli/v1/definitions.schema.json"]
    assert definitions["$defs"]["apiVersion"]["const"] == JSON_SCHEMA_VERSION
    assert plan_file_schema()["$id"] == BASE_URI + "plan/v1/Plan.schema.json"


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(KeyError, match="Plan, ApplyResult"):
        output_schema("Plans")


def test_a_payload_may_not_replace_the_envelope(capsys: pytest.CaptureFixture[str]) -> None:
    from gitcops.cli.output import emit_json

    with pytest.raises(ValueError, match="kind"):
        emit_json("ApplyResult", {"kind": "apply"})
    assert capsys.readouterr().out == ""


def test_validators_check_formats() -> None:
    waiver = {"rule": "main.deny", "owner": "o", "reason": "r", "expires": "2999-02-30"}
    finding = {
        "source": "policy",
        "rule": "main.deny",
        "severity": "failure",
        "message": "m",
        "file": None,
        "line": None,
        "document": None,
        "resource": None,
        "policyFile": None,
        "details": {},
        "waived": True,
        "waiver": waiver,
        "expiredWaiver": None,
    }
    document = {
        "apiVersion": "gitcops.io/cli/v1",
        "kind": "ValidationResult",
        "revision": "worktree",
        "valid": True,
        "environments": {"dev": 1},
        "diagnostics": [],
        "findings": [finding],
    }
    [error] = output_validator("ValidationResult").iter_errors(document)  # anyOf [Waiver, null]
    assert "'2999-02-30' is not a 'date'" in [e.message for e in error.context or ()]
    waiver["expires"] = "2999-02-28"
    assert list(output_validator("ValidationResult").iter_errors(document)) == []


def test_docs_publish_the_package_schemas_byte_for_byte() -> None:
    """docs/schemas is a copy (so that links into it work wherever the docs are read); the
    package's files are the source. After changing one, copy them over:
    rm -r docs/schemas; mkdir docs/schemas; cp -r src/gitcops/schemas/{cli,plan} docs/schemas/
    """
    package = _files(SCHEMAS)
    docs = _files(DOCS)
    assert sorted(docs) == sorted(package), "docs/schemas and src/gitcops/schemas list differ"
    stale = [name for name in package if docs[name] != package[name]]
    assert stale == [], f"docs/schemas differs from the package: {stale}"


def test_the_wheel_ships_every_schema() -> None:
    """setuptools' package-data globbing (build_py: recursive glob under the package)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["gitcops"]
    shipped = {
        Path(match).resolve()
        for pattern in patterns
        for match in glob.glob(str(PACKAGE / pattern), recursive=True)
    }
    schemas = {p.resolve() for p in SCHEMAS.rglob("*.json")}
    assert schemas and schemas <= shipped


def test_loading_the_schemas_imports_nothing_heavy() -> None:
    code = (
        "import sys, gitcops.schemas as s; s.output_schema('Plan'); s.schema_documents();"
        "print(sorted({'jsonschema', 'referencing', 'importlib.resources'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _json_examples(markdown: str) -> list[Any]:
    blocks = re.findall(r"^```json\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_the_docs_examples_match_the_schemas() -> None:
    examples = _json_examples((ROOT / "docs" / "cli.md").read_text())
    kinds = []
    for example in examples:
        kind = example["kind"]
        errors = [e.message for e in output_validator(kind).iter_errors(example)]
        assert errors == [], f"docs/cli.md: the {kind} example: {errors}"
        kinds.append(kind)
    assert sorted(set(kinds)) == sorted(OUTPUT_KINDS)


def test_the_docs_link_to_every_schema() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    links = set(re.findall(r"\]\((schemas/[^)]+\.json)\)", text))
    assert {str(p.relative_to(DOCS.parent)) for p in DOCS.rglob("*.json")} == links
