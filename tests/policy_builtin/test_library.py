"""The library itself: shipped as package data, Rego v1, every module self-contained."""

from __future__ import annotations

import re

import pytest

from gitcops.validate.policy.builtin import (
    PLAN_NAMESPACE,
    RESOURCE_NAMESPACE,
    RULES,
    active_builtin_policies,
    builtin_policies,
)

from .support import plan, query_deny, resource

MODULES = dict(builtin_policies())
# v0 rule heads: `deny[msg] {`, `p {`, `f(x) {`, `deny[msg] = x {` (no `if`).
V0_HEAD = re.compile(r"^[A-Za-z_][\w.]*(\[[^\]]*\]|\([^)]*\))?\s*(=\s*[^{]+)?\{\s*$")


def test_builtin_policies_lists_the_shipped_modules() -> None:
    assert [path for path, _ in builtin_policies()] == [
        "<builtin>/blast_radius.rego",
        "<builtin>/required_labels.rego",
        "<builtin>/world_writable.rego",
    ]
    assert all(text.strip() for text in MODULES.values())


ALL = ["blast_radius", "required_labels", "world_writable"]
NO_LABELS = ["blast_radius", "world_writable"]
CONFIGS: list[tuple[dict[str, object], list[str]]] = [
    ({}, NO_LABELS),  # no labels to require: required_labels cannot fire
    ({"requiredLabels": {"labels": ["owner"]}}, ALL),
    ({"requiredLabels": {"labels": []}}, NO_LABELS),
    ({"requiredLabels": {"labels": ["owner"], "enabled": False}}, NO_LABELS),
    ({"worldWritable": {"enabled": False}, "blastRadius": {"enabled": False}}, []),
    ({"worldWritable": {"enabled": True}}, NO_LABELS),
    ({"worldWritable": "odd"}, NO_LABELS),  # an unexpected shape: the module decides
]


@pytest.mark.parametrize(("config", "active"), CONFIGS)
def test_modules_that_cannot_fire_are_not_evaluated(
    config: dict[str, object], active: list[str]
) -> None:
    chosen = active_builtin_policies(config)
    assert [p.removeprefix("<builtin>/").removesuffix(".rego") for p, _ in chosen] == active


@pytest.mark.parametrize(("config", "active"), CONFIGS)
def test_leaving_them_out_changes_no_finding(config: dict[str, object], active: list[str]) -> None:
    chosen = active_builtin_policies(config)
    documents = [
        resource("File", "open", spec={"path": "f", "mode": "0666"}),
        resource("Directory", "dir", spec={"path": "d", "mode": "0777"}, labels={"owner": "x"}),
        resource("File", "ok", spec={"path": "g", "mode": "0644"}),
        resource("HealthCheck", "hc", spec={"http": {"url": "http://x"}}),
    ]
    cases = [(RESOURCE_NAMESPACE, d) for d in documents] + [(PLAN_NAMESPACE, plan(10, deletes=9))]
    for namespace, document in cases:
        everything = query_deny(namespace, document, config)
        defined = any(f"package {namespace}" in text for _, text in chosen)
        some = query_deny(namespace, document, config, chosen) if defined else []
        assert some == everything, (namespace, document)
    assert any(query_deny(n, d, config) for n, d in cases) == bool(active)


@pytest.mark.parametrize("path", sorted(MODULES))
def test_module_is_rego_v1(path: str) -> None:
    text = MODULES[path]
    assert re.search(r"^import rego\.v1$", text, re.MULTILINE)
    assert re.search(r"^deny contains \w+ if \{$", text, re.MULTILINE)
    top_level = [
        line for line in text.splitlines() if line and not line[0].isspace() and line[0] != "#"
    ]
    offending = [line for line in top_level if V0_HEAD.match(line) or re.match(r"^\w+\[", line)]
    assert offending == []


@pytest.mark.parametrize(
    ("path", "namespace"),
    [
        ("<builtin>/required_labels.rego", RESOURCE_NAMESPACE),
        ("<builtin>/world_writable.rego", RESOURCE_NAMESPACE),
        ("<builtin>/blast_radius.rego", PLAN_NAMESPACE),
    ],
)
def test_each_module_compiles_and_runs_alone(path: str, namespace: str) -> None:
    assert re.search(rf"^package {re.escape(namespace)}$", MODULES[path], re.MULTILINE)
    document = plan(10, 0) if namespace == PLAN_NAMESPACE else resource()
    assert query_deny(namespace, document, modules=[(path, MODULES[path])]) == []


def test_rule_ids_match_what_the_modules_emit() -> None:
    everything = {
        "requiredLabels": {"labels": ["owner"]},
        "worldWritable": {},
        "blastRadius": {"minResources": 0},
    }
    doc = resource(spec={"path": "etc/motd", "content": "x", "mode": "0666"})
    emitted = {
        f["rule"]: RESOURCE_NAMESPACE for f in query_deny(RESOURCE_NAMESPACE, doc, everything)
    }
    emitted |= {
        f["rule"]: PLAN_NAMESPACE for f in query_deny(PLAN_NAMESPACE, plan(1, 1), everything)
    }
    assert emitted == {rule: namespace for rule, (namespace, _) in RULES.items()}
    assert {key for _, key in RULES.values()} == set(everything)


def test_every_finding_is_an_object_message() -> None:
    doc = resource(spec={"path": "etc/motd", "content": "x", "mode": "0777"})
    config = {"requiredLabels": {"labels": ["owner"]}}
    findings = query_deny(RESOURCE_NAMESPACE, doc, config) + query_deny(PLAN_NAMESPACE, plan(10, 9))
    assert len(findings) == 3
    for finding in findings:
        assert isinstance(finding["msg"], str) and finding["msg"]
        assert finding["rule"] in RULES


def test_namespaces_do_not_leak_into_each_other() -> None:
    """A plan evaluated as a resource (and vice versa) produces nothing, not an error."""
    assert query_deny(RESOURCE_NAMESPACE, plan(10, 10)) == []
    doc = resource(spec={"path": "etc/motd", "content": "x", "mode": "0777"})
    assert query_deny(PLAN_NAMESPACE, doc) == []


@pytest.mark.parametrize(
    ("line", "v0"),
    [
        ("deny[msg] {", True),
        ('violation[{"msg": msg}] {', True),
        ("allow {", True),
        ("f(x) {", True),
        ("p = x {", True),
        ("deny contains msg if {", False),
        ('enabled if object.get(cfg, "enabled", true) != false', False),
        ('cfg := object.get(data.gitcops.config, "x", {}) if {', False),
        ("f(x) := y if {", False),
    ],
)
def test_v0_head_detector(line: str, v0: bool) -> None:
    """rego-cpp accepts v0 heads even under `import rego.v1`, so the check above is textual."""
    assert bool(V0_HEAD.match(line) or re.match(r"^\w+\[", line)) is v0
