"""A Rich progress bar on stderr when it is a terminal; silent otherwise."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class ApplyProgress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    @classmethod
    def for_terminal(cls) -> ApplyProgress:
        return cls(sys.stderr.isatty())

    def __enter__(self) -> ApplyProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, plan: Any) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("applying {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._progress.add_task(
            f"{plan.project}/{plan.environment}", total=len(plan.changes), last=""
        )

    def advance(self, change: Any, entry: Any) -> None:
        if self._progress is None:
            return
        if not self._progress.live.is_started:
            self._progress.start()
        self._progress.update(self._task, advance=1, last=f"{entry.action.value} {change.id}")
