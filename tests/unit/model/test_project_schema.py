"""The Project's fast validity check (policy section compiled apart) agrees with SCHEMA."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitcops.model.errors import InvalidInputError
from gitcops.model.project import SCHEMA, Project, _surely_valid
from gitcops.model.schema import schema_problems


def _project(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gitcops.io/v1",
        "kind": "Project",
        "metadata": {"name": "demo"},
        "spec": {
            "environments": [{"name": "dev", "path": "environments/dev"}],
            "providers": {"local": {"root": "/tmp/x"}},
            **spec,
        },
    }


POLICY = {
    "namespaces": ["main", "extra"],
    "builtin": {"worldWritable": {"enabled": False}, "requiredLabels": {"labels": ["team"]}},
}

CASES: list[tuple[str, dict[str, Any]]] = [
    ("no policy", _project()),
    ("a valid policy", _project(policy=POLICY)),
    ("an empty policy", _project(policy={})),
    ("an unknown policy field", _project(policy={"nope": 1})),
    ("a policy of the wrong type", _project(policy=["main"])),
    ("a bad namespace list", _project(policy={"namespaces": [""]})),
    ("a bad built-in setting", _project(policy={"builtin": {"worldWritable": {"x": 1}}})),
    ("a bad environment, valid policy", _project(policy=POLICY, environments=[{"name": 1}])),
    ("bad everywhere", _project(policy={"nope": 1}, environments="x", secrets=3)),
    ("an unknown spec field", _project(unknown=True)),
    ("spec missing", {k: v for k, v in _project().items() if k != "spec"}),
    ("spec not a mapping", {**_project(), "spec": ["x"]}),
    ("a wrong kind", {**_project(), "kind": "Projekt"}),
]


@pytest.mark.parametrize(("label", "document"), CASES, ids=[c[0] for c in CASES])
def test_the_fast_check_agrees_with_the_whole_schema(label: str, document: dict[str, Any]) -> None:
    expected = schema_problems(SCHEMA, document) == []
    assert _surely_valid(copy.deepcopy(document)) is expected, label


def test_every_problem_is_still_reported_at_once() -> None:
    # The policy section and another section are both wrong: both are named.
    document = _project(policy={"nope": 1}, environments=[{"name": 1, "path": "p"}])
    with pytest.raises(InvalidInputError) as caught:
        Project.parse(document)
    paths = {d.path for d in caught.value.diagnostics}
    assert ("spec", "policy", "nope") in paths
    assert any(p[:3] == ("spec", "environments", 0) for p in paths)


def test_a_valid_project_with_a_policy_parses() -> None:
    project = Project.parse(_project(policy=POLICY))
    assert project.spec.policy == POLICY
