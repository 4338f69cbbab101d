"""The built-in policy library: Rego modules shipped with gitcops, enabled by default.

Resource rules (`required_labels`, `world_writable`) live in RESOURCE_NAMESPACE and are
evaluated once per rendered resource; the plan rule (`blast_radius`) lives in PLAN_NAMESPACE
and is evaluated once per plan. Every finding is an object message
`{"msg": ..., "rule": "<rule id>", ...details}`. Settings come from gitcops.yaml
`spec.policy.builtin`, passed to the modules as `data.gitcops.config` (camelCase keys:
`requiredLabels`, `worldWritable`, `blastRadius`); each rule is on unless `enabled: false`.
"""

from __future__ import annotations

from importlib import resources

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
    root = resources.files(__name__)
    return [
        (DISPLAY_PREFIX + entry.name, entry.read_text(encoding="utf-8"))
        for entry in sorted(root.iterdir(), key=lambda item: item.name)
        if entry.name.endswith(".rego") and entry.is_file()
    ]
