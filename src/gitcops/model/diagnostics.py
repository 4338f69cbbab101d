"""User-facing problems, each naming the file, the document and the field it is about."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from gitcops.model.errors import InvalidInputError


def format_path(path: Sequence[str | int]) -> str:
    """Render a field path the way users write it: spec.items[2].name."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class Diagnostic(NamedTuple):
    message: str
    file: str | None = None
    document: str | None = None  # e.g. "document 3 (local.gitcops.io/File/motd)"
    path: tuple[str | int, ...] = ()
    severity: str = "error"
    line: int | None = None  # 1-based, for files that are not YAML documents (policies)

    def __str__(self) -> str:
        file = f"{self.file}:{self.line}" if self.file and self.line else self.file
        where = [part for part in (file, self.document) if part]
        if self.path:
            where.append(f"field {format_path(self.path)}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def as_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "message": self.message,
            "file": self.file,
            "document": self.document,
            "path": format_path(self.path) if self.path else None,
            "line": self.line,
        }


@dataclass
class Diagnostics:
    """Collects problems so validation reports all of them at once."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    def error(
        self,
        message: str,
        *,
        file: str | None = None,
        document: str | None = None,
        path: Sequence[str | int] = (),
    ) -> None:
        self.items.append(Diagnostic(message, file, document, tuple(path)))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise InvalidInputError(self.errors)

    def __bool__(self) -> bool:
        return bool(self.items)
