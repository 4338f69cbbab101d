"""The built-in policy library: Rego modules shipped with gitcops, enabled by default.

Resource rules (`required_labels`, `world_writable`) live in RESOURCE_NAMESPACE and are
evaluated once per rendered resource; the plan rule (`blast_radius`) lives in PLAN_NAMESPACE
and is evaluated once per plan. Every finding is an object message
`{"msg": ..., "rule": "<rule id>", ...details}`. Settings come from gitcops.yaml
`spec.policy.builtin`, passed to the modules as `data.gitcops.config` (camelCase keys:
`requiredLabels`, `worldWritable`, `blastRadius`); each rule is on unless `enabled: false`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESOURCE_NAMESPACE = "gitcops.builtin.resources"
PLAN_NAMESPACE = "gitcops.builtin.plan"
DISPLAY_PREFIX = "<builtin>/"

# rule id -> (namespace, config key under data.gitcops.config)
RULES: dict[str, tuple[str, str]] = {
    "required_labels": (RESOURCE_NAMESPACE, "requiredLabels"),
    "world_writable": (RESOURCE_NAMESPACE, "worldWritable"),
    "blast_radius": (PLAN_NAMESPACE, "blastRadius"),
}


def builtin_policies() -> list[tuple[str, str]]:
    """(display path such as "<builtin>/required_labels.rego", Rego text), sorted by name."""
    # Beside this module, read as files: gitcops is never imported from a zip archive, and
    # importlib.resources would cost a first run ~3 ms of imports (zipfile among them).
    root = Path(__file__).parent
    return [
        (DISPLAY_PREFIX + entry.name, entry.read_text(encoding="utf-8"))
        for entry in sorted(root.iterdir(), key=lambda item: item.name)
        if entry.name.endswith(".rego") and entry.is_file()
    ]


def active_builtin_policies(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """builtin_policies() without the modules that cannot produce a finding under `config`
    (gitcops.yaml `spec.policy.builtin`): turned off, or required_labels with no labels to
    require (its default). Evaluating them for every resource would only cost time."""
    return [
        (path, text)
        for path, text in builtin_policies()
        if _may_fire(path.removeprefix(DISPLAY_PREFIX).removesuffix(".rego"), config)
    ]


def _may_fire(rule: str, config: Mapping[str, Any]) -> bool:
    if rule not in RULES:
        return True
    settings = config.get(RULES[rule][1], {})
    if not isinstance(settings, Mapping):
        return True  # the module decides what an unexpected shape means
    if settings.get("enabled", True) is False:
        return False
    if rule == "required_labels":
        labels = settings.get("labels", [])
        return not isinstance(labels, list) or any(isinstance(label, str) for label in labels)
    return True
