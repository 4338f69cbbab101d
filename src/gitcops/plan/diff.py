"""Field-level diffs over a resource's essence: an immutable list of (op, path, old, new)."""

from enum import StrEnum
from typing import Any, NamedTuple

from gitcops.model.diagnostics import format_path


class DiffOp(StrEnum):
    ADD = "add"
    CHANGE = "change"
    REMOVE = "remove"


class DiffItem(NamedTuple):
    op: DiffOp
    path: tuple[str | int, ...]
    old: Any = None
    new: Any = None

    @property
    def field(self) -> str:
        return format_path(self.path)

    def as_json(self) -> dict[str, Any]:
        # `segments` is exact (a key may hold dots, as Kubernetes labels do); `path` is for people.
        return {
            "op": self.op.value,
            "path": self.field,
            "segments": list(self.path),
            "old": self.old,
            "new": self.new,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DiffItem":
        path = tuple(data["segments"]) if "segments" in data else _parse_path(data["path"])
        return cls(DiffOp(data["op"]), path, data.get("old"), data.get("new"))


def _parse_path(text: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for chunk in text.replace("]", "").split("."):
        name, *indexes = chunk.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indexes)
    return tuple(parts)


def same(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's ==, true is not 1 and 1 is not 1.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def diff(old: Any, new: Any, path: tuple[str | int, ...] = ()) -> list[DiffItem]:
    """Maps diff key by key; lists of equal length element by element, else as a whole."""
    if same(old, new):
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        items: list[DiffItem] = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in old:
                items.append(DiffItem(DiffOp.ADD, (*path, key), None, new[key]))
            elif key not in new:
                items.append(DiffItem(DiffOp.REMOVE, (*path, key), old[key], None))
            else:
                items.extend(diff(old[key], new[key], (*path, key)))
        return items
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out: list[DiffItem] = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(diff(a, b, (*path, i)))
        return out
    return [DiffItem(DiffOp.CHANGE, path, old, new)]
