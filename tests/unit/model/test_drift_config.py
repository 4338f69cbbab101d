"""Drift governance in the model: ignoreDifferences in gitcops.yaml, the drift annotation."""

from __future__ import annotations

from typing import Any

import pytest

from gitcops.model.diagnostics import Diagnostics, format_path
from gitcops.model.drift import DriftMode, IgnoreRule, ignored_pointers, pointer_problem
from gitcops.model.errors import InvalidInputError
from gitcops.model.identity import ResourceId
from gitcops.model.project import Project
from gitcops.model.resource import Origin, Resource
from gitcops.validate.resources import _shape_problems

MOTD = ResourceId("local.gitcops.io", "File", "motd")
BANNER = ResourceId("local.gitcops.io", "File", "banner")
ETC = ResourceId("local.gitcops.io", "Directory", "etc")
NAMESPACED = ResourceId("kubernetes.gitcops.io", "ConfigMap", "motd", "web")


def _project(env: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gitcops.io/v1",
        "kind": "Project",
        "metadata": {"name": "demo"},
        "spec": {
            "environments": [
                {"name": "dev", "path": "environments/dev", **(env or {})},
                {"name": "prod", "path": "environments/prod", "drift": "warn"},
            ],
            **spec,
        },
    }


def _problems(document: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    with pytest.raises(InvalidInputError) as caught:
        Project.parse(document)
    return [(d.file, d.message, format_path(d.path or ())) for d in caught.value.diagnostics]


def test_rules_for_all_environments_and_for_one() -> None:
    project = Project.parse(
        _project(
            env={
                "ignoreDifferences": [
                    {"kind": "File", "name": "motd", "jsonPointers": ["/spec/mode"]}
                ]
            },
            ignoreDifferences=[{"jsonPointers": ["/spec/owner"]}],
        )
    )
    dev, prod = project.environment("dev"), project.environment("prod")
    assert ignored_pointers(project.ignore_rules(dev), MOTD) == ("/spec/owner", "/spec/mode")
    assert ignored_pointers(project.ignore_rules(dev), BANNER) == ("/spec/owner",)
    assert ignored_pointers(project.ignore_rules(prod), MOTD) == ("/spec/owner",)
    assert dev.drift is DriftMode.DETECT and prod.drift is DriftMode.WARN
    # Read back from the render cache the same way.
    assert Project.from_trusted(project.document) == project


def test_a_rule_without_selectors_matches_every_resource() -> None:
    everything = IgnoreRule(("/spec/mode",))
    assert all(everything.matches(r) for r in (MOTD, ETC, NAMESPACED))


@pytest.mark.parametrize(
    ("rule", "matching"),
    [
        (IgnoreRule(("/spec/a",), kind="File"), {MOTD, BANNER}),
        (IgnoreRule(("/spec/a",), group="local.gitcops.io", name="motd"), {MOTD}),
        (IgnoreRule(("/spec/a",), name="motd"), {MOTD, NAMESPACED}),
        (IgnoreRule(("/spec/a",), namespace="web"), {NAMESPACED}),
        (IgnoreRule(("/spec/a",), kind="Directory", name="motd"), set()),
    ],
)
def test_selectors_match_exactly(rule: IgnoreRule, matching: set[ResourceId]) -> None:
    assert {r for r in (MOTD, BANNER, ETC, NAMESPACED) if rule.matches(r)} == matching


def test_the_same_pointer_from_two_rules_counts_once() -> None:
    rules = (IgnoreRule(("/spec/mode", "/spec/a")), IgnoreRule(("/spec/mode",), kind="File"))
    assert ignored_pointers(rules, MOTD) == ("/spec/mode", "/spec/a")


@pytest.mark.parametrize(
    "pointer",
    ["/spec/mode", "/spec/labels/app~1tier", "/spec/a~0b", "/spec/items/0", "/spec/"],
)
def test_valid_pointers(pointer: str) -> None:
    assert pointer_problem(pointer) is None


@pytest.mark.parametrize(
    ("pointer", "says"),
    [
        ("spec/mode", "must start with '/'"),
        ("", "must start with '/'"),
        ("/spec/a~2b", "'~' must be followed by 0 or 1"),
        ("/spec/a~", "'~' must be followed by 0 or 1"),
        ("/metadata/labels", "gitcops compares specs only"),
        ("/", "gitcops compares specs only"),
        ("/spec", "names the whole spec"),
    ],
)
def test_invalid_pointers(pointer: str, says: str) -> None:
    problem = pointer_problem(pointer)
    assert problem is not None and says in problem


def test_every_bad_rule_is_reported_with_its_field_in_gitcops_yaml() -> None:
    document = _project(
        env={
            "ignoreDifferences": [
                {"kind": "File", "jsonPointers": ["spec/mode", "/spec/ok", "/status/x"]},
                {"jqPathExpressions": [".spec.mode"]},
            ]
        },
        ignoreDifferences=[{"managedFieldsManagers": ["kubectl"], "jsonPointers": ["/spec/a~2"]}],
    )
    problems = _problems(document)
    assert {file for file, _, _ in problems} == {"gitcops.yaml"}
    where = {path: message for _, message, path in problems}
    assert "not supported" in where["spec.ignoreDifferences[0].managedFieldsManagers"]
    assert "'~' must be followed" in where["spec.ignoreDifferences[0].jsonPointers[0]"]
    env_rules = "spec.environments[0].ignoreDifferences"
    assert "must start with '/'" in where[f"{env_rules}[0].jsonPointers[0]"]
    assert "specs only" in where[f"{env_rules}[0].jsonPointers[2]"]
    assert "not supported" in where[f"{env_rules}[1].jqPathExpressions"]
    assert "needs jsonPointers" in where[f"{env_rules}[1].jsonPointers"]
    assert len(problems) == 6


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "File", "jsonPointers": ["/spec/a"], "colour": "red"},
        {"kind": "", "jsonPointers": []},
        {"jsonPointers": [3]},
    ],
)
def test_a_malformed_rule_is_a_schema_problem(rule: dict[str, Any]) -> None:
    problems = _problems(_project(ignoreDifferences=[rule]))
    assert problems and all(p[2].startswith("spec.ignoreDifferences[0]") for p in problems)


def test_an_environment_cannot_take_the_ignore_mode() -> None:
    problems = _problems(_project(env={"drift": "ignore"}))
    assert [p[2] for p in problems] == ["spec.environments[0].drift"]


def _doc(annotations: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "local.gitcops.io/v1",
        "kind": "File",
        "metadata": {"name": "motd", "annotations": annotations},
        "spec": {"path": "motd"},
    }


@pytest.mark.parametrize("mode", ["detect", "warn", "heal", "ignore"])
def test_the_drift_annotation_names_a_mode(mode: str) -> None:
    assert _shape_problems(_doc({"gitcops.io/drift": mode})) == []
    resource = Resource.from_document(_doc({"gitcops.io/drift": mode}), Origin("base/a.yaml"))
    assert resource.drift_mode is DriftMode(mode)


def test_without_the_annotation_the_environment_decides() -> None:
    assert Resource.from_document(_doc({}), Origin("a.yaml")).drift_mode is None


@pytest.mark.parametrize("value", ["off", "Heal", True, ""])
def test_a_bad_drift_annotation_is_a_problem_with_its_path(value: object) -> None:
    problems = _shape_problems(_doc({"gitcops.io/drift": value}))
    assert problems == [
        (
            ("metadata", "annotations", "gitcops.io/drift"),
            f"must be one of detect, warn, heal, ignore, not {value!r}",
        )
    ]


def test_the_annotation_problem_names_file_and_document() -> None:
    from gitcops.validate.resources import _shape_ok

    diags = Diagnostics()
    assert not _shape_ok(_doc({"gitcops.io/drift": "off"}), Origin("base/site.yaml", 2), diags)
    (problem,) = diags.errors
    assert problem.file == "base/site.yaml"
    assert problem.document == "document 3 (local.gitcops.io/File/motd)"
    assert format_path(problem.path or ()) == "metadata.annotations.gitcops.io/drift"
