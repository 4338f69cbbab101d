"""The `gitcops` command. Heavy modules load inside commands so `--help` stays fast."""

from __future__ import annotations

import gc

from gitcops.cli import apply_cmds, inspect_cmds, project_cmds  # noqa: F401 - they register
from gitcops.cli.app import app
from gitcops.cli.common import opened_stores

__all__ = ["app", "run"]


def run() -> None:
    # A run is short-lived and allocates tens of thousands of small acyclic objects: frequent
    # cyclic-GC passes over them cost more than they reclaim (a third of a 10,000-file plan).
    gc.set_threshold(100_000, 50, 100)
    from gitcops.cli.coercion import install

    install()
    try:
        app()
    finally:
        # Closed here, not whenever the garbage collector would get to them.
        for store in opened_stores:
            store.close()
        # Only exiting remains: exempt what is allocated from the final collection, which
        # walks every object (~25 ms after a 1,000-file plan) to free memory the OS reclaims.
        gc.freeze()
