"""Apply progress on stderr, never stdout: a Rich progress bar on a terminal; otherwise (a CI
log, a pipe) a line every few seconds while changes are being applied."""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from gitcops.apply.changeset import ChangeSetEntry
from gitcops.plan.model import Plan, PlannedChange

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

# Seconds between two progress lines when stderr is not a terminal (GITCOPS_PROGRESS_SECONDS).
LINE_EVERY = 5.0


class ApplyProgress:
    def __init__(self, terminal: bool, stream: TextIO | None = None) -> None:
        self.terminal = terminal
        self._stream = stream
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._plan: Plan | None = None
        self._done = 0
        self._last_line = 0.0
        try:
            self._every = float(os.environ.get("GITCOPS_PROGRESS_SECONDS", LINE_EVERY))
        except ValueError:
            self._every = LINE_EVERY

    @classmethod
    def for_stderr(cls) -> ApplyProgress:
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

    def start(self, plan: Plan) -> None:
        self._plan = plan
        self._done = 0
        self._last_line = time.monotonic()
        if not self.terminal:
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

    def advance(self, change: PlannedChange, entry: ChangeSetEntry) -> None:
        self._done += 1
        if self._progress is not None:
            if not self._progress.live.is_started:
                self._progress.start()
            assert self._task is not None
            self._progress.update(self._task, advance=1, last=f"{entry.action.value} {change.id}")
            return
        now = time.monotonic()
        if self._plan is None or now - self._last_line < self._every:
            return
        self._last_line = now
        stream = self._stream or sys.stderr
        stream.write(
            f"applying {self._plan.project}/{self._plan.environment}: "
            f"{self._done}/{len(self._plan.changes)} ({entry.action.value} {change.id})\n"
        )
        stream.flush()
