"""Built-in rule world_writable: local files and directories others may write."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Evaluate
from .support import resource


def _file(mode: Any = None, kind: str = "File", **kwargs: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"path": "etc/motd"}
    if kind == "File":
        spec["content"] = "hello\n"
    if mode is not None:
        spec["mode"] = mode
    return resource(kind, "motd", spec=spec, **kwargs)


@pytest.mark.parametrize(
    ("mode", "writable", "safer"),
    [
        ("0644", False, None),
        ("644", False, None),
        ("0640", False, None),
        ("0600", False, None),
        ("0755", False, None),
        ("0775", False, None),
        ("0444", False, None),
        ("0000", False, None),
        ("0751", False, None),
        ("0754", False, None),
        ("0666", True, "0664"),
        ("666", True, "664"),
        ("0777", True, "0775"),
        ("0662", True, "0660"),
        ("0603", True, "0601"),
        ("0002", True, "0000"),
        ("1777", True, "1775"),
    ],
)
@pytest.mark.parametrize("kind", ["File", "Directory"])
def test_modes(
    evaluate_resource: Evaluate, kind: str, mode: str, writable: bool, safer: str | None
) -> None:
    findings = evaluate_resource(_file(mode, kind))
    if not writable:
        assert findings == []
        return
    assert findings == [
        {
            "msg": f'{kind} etc/motd (local.gitcops.io/{kind}/motd) has mode "{mode}", which '
            "lets any user write it (o+w); use a mode without the others-write bit, "
            f'e.g. "{safer}"',
            "rule": "world_writable",
            "path": "etc/motd",
            "mode": mode,
        }
    ]


@pytest.mark.parametrize("kind", ["File", "Directory"])
def test_no_mode_means_gitcops_defaults_and_no_finding(
    evaluate_resource: Evaluate, kind: str
) -> None:
    assert evaluate_resource(_file(None, kind)) == []


@pytest.mark.parametrize("mode", ["", "0999", "rw-rw-rw-", "0o666", 438, 0o666])
def test_malformed_modes_are_left_to_schema_validation(
    evaluate_resource: Evaluate, mode: Any
) -> None:
    assert evaluate_resource(_file(mode)) == []


def test_other_kinds_and_providers_are_ignored(evaluate_resource: Evaluate) -> None:
    symlink = resource("Symlink", "link", spec={"path": "a", "target": "b", "mode": "0777"})
    foreign = _file("0666", api_version="example.com/v1")
    assert evaluate_resource(symlink) == []
    assert evaluate_resource(foreign) == []


def test_disabled_rule_does_not_fire(evaluate_resource: Evaluate) -> None:
    assert evaluate_resource(_file("0777"), {"worldWritable": {"enabled": False}}) == []


@pytest.mark.parametrize(
    "config", [{}, {"worldWritable": {}}, {"worldWritable": {"enabled": True}}], ids=str
)
def test_enabled_by_default(evaluate_resource: Evaluate, config: dict[str, Any]) -> None:
    [finding] = evaluate_resource(_file("0666"), config)
    assert finding["rule"] == "world_writable"


def test_without_gitcops_context_names_kind_and_name(evaluate_resource: Evaluate) -> None:
    [finding] = evaluate_resource(_file("0666", context=False))
    assert finding["msg"].startswith('File etc/motd (File/motd) has mode "0666"')


def test_both_resource_rules_report_independently(evaluate_resource: Evaluate) -> None:
    doc = _file("0777")
    both = evaluate_resource(doc, {"requiredLabels": {"labels": ["owner"]}})
    assert [f["rule"] for f in both] == ["required_labels", "world_writable"]
    labels_off = {"requiredLabels": {"labels": ["owner"], "enabled": False}}
    assert [f["rule"] for f in evaluate_resource(doc, labels_off)] == ["world_writable"]
    mode_off = {"requiredLabels": {"labels": ["owner"]}, "worldWritable": {"enabled": False}}
    assert [f["rule"] for f in evaluate_resource(doc, mode_off)] == ["required_labels"]
