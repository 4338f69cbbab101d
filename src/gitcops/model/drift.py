"""Drift governance: what gitcops does when a live object differs from what it applied.

An environment's mode (gitcops.yaml `drift:`) says what the agent does with drift: `detect`
records it, `warn` also notifies, `heal` applies the last applied revision again to the drifted
resources. A document's `gitcops.io/drift` annotation overrides it for that resource, and may
also say `ignore` (its drift is not a change at all). Ignore rules (`ignoreDifferences`, in Argo
CD's shape) name spec fields, as RFC 6901 JSON pointers into the document, that gitcops neither
compares nor overwrites once the object exists.
"""

import functools
from enum import StrEnum
from typing import NamedTuple

from gitcops.model.identity import ResourceId


class DriftMode(StrEnum):
    DETECT = "detect"
    WARN = "warn"
    HEAL = "heal"
    IGNORE = "ignore"  # per resource only (the annotation); an environment takes the other three


ENVIRONMENT_MODES = (DriftMode.DETECT.value, DriftMode.WARN.value, DriftMode.HEAL.value)
RESOURCE_MODES = (*ENVIRONMENT_MODES, DriftMode.IGNORE.value)


class IgnoreRule(NamedTuple):
    """`{group?, kind?, name?, namespace?, jsonPointers}`: a selector left out matches all."""

    json_pointers: tuple[str, ...]
    group: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None

    def matches(self, rid: ResourceId) -> bool:
        return (
            (self.group is None or self.group == rid.group)
            and (self.kind is None or self.kind == rid.kind)
            and (self.name is None or self.name == rid.name)
            and (self.namespace is None or self.namespace == rid.namespace)
        )

    @classmethod
    def from_json(cls, data: dict[str, object]) -> "IgnoreRule":
        """From a rule already validated (gitcops.yaml's schema and pointer_problem)."""

        def selector(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value is not None else None

        pointers = data.get("jsonPointers") or []
        assert isinstance(pointers, list)
        return cls(
            tuple(str(p) for p in pointers),
            selector("group"),
            selector("kind"),
            selector("name"),
            selector("namespace"),
        )


def ignored_pointers(rules: tuple[IgnoreRule, ...], rid: ResourceId) -> tuple[str, ...]:
    """The pointers every matching rule names, each once, in the order the rules give them."""
    found: dict[str, None] = {}
    for rule in rules:
        if rule.matches(rid):
            found.update(dict.fromkeys(rule.json_pointers))
    return tuple(found)


def pointer_problem(pointer: str) -> str | None:
    """Why `pointer` is not a JSON pointer to a field inside a spec (None: it is one)."""
    if not pointer.startswith("/"):
        return f"{pointer!r} is not a JSON pointer: it must start with '/' (e.g. /spec/mode)"
    for token in pointer[1:].split("/"):
        rest = token.replace("~0", "").replace("~1", "")
        if "~" in rest:
            return f"{pointer!r}: '~' must be followed by 0 or 1 (RFC 6901: ~0 is '~', ~1 is '/')"
    tokens = pointer_tokens(pointer)
    if tokens is None:
        return (
            f"{pointer!r} points outside the spec: gitcops compares specs only, so a pointer "
            "starts with /spec/ (e.g. /spec/mode)"
        )
    if not tokens:
        return (
            f"{pointer!r} names the whole spec: to leave a resource's drift alone, annotate it "
            "with gitcops.io/drift: ignore"
        )
    return None


@functools.lru_cache(maxsize=1024)
def pointer_tokens(pointer: str) -> tuple[str, ...] | None:
    """The tokens of a document pointer below /spec, unescaped (None: not below /spec)."""
    parts = pointer.split("/")
    if len(parts) < 2 or parts[0] != "" or parts[1] != "spec":
        return None
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in parts[2:])
