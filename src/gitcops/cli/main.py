"""The `gitcops` command. Heavy modules load inside commands so `--help` stays fast."""

from __future__ import annotations

import atexit
import copy
import gc
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

import typer

from gitcops.cli import (  # noqa: F401 - they register
    agent_cmds,
    apply_cmds,
    change_cmds,
    inspect_cmds,
    project_cmds,
)
from gitcops.cli.app import app

__all__ = ["app", "command_for", "main", "run"]


def command_for(args: Sequence[str]) -> Callable[[], object]:
    """The Click command that runs `gitcops ARGS`: the whole application, or for a command or
    group named first, a group holding only it. Typer builds every command it holds from its
    function's signature on each start (~30 ms for all of gitcops'), where one is used.

    The group is the one the whole application would be, minus the other commands, so help,
    usage lines and errors are the same. Anything else (no arguments, an option first, an
    unknown name) gets the whole application, whose messages list every command."""
    if not args or args[0].startswith("-"):
        return typer.main.get_command(app)
    name = args[0]
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return typer.main.get_command(app)
    only = copy.copy(app)
    only.registered_commands = commands
    only.registered_groups = groups
    # get_group, not get_command: with one command and no group, Typer would make the
    # application that command itself, and `gitcops apply` would not parse.
    return typer.main.get_group(only)


def _command_name(info: typer.models.CommandInfo) -> str | None:
    if info.name:
        return str(info.name)
    callback = info.callback
    return typer.main.get_command_name(callback.__name__) if callback is not None else None


def main() -> None:
    """The command line, in this process: ends by raising SystemExit, as any Click program."""
    try:
        # As Typer's app() does, without its exception hook: pretty tracebacks are disabled.
        command_for(sys.argv[1:])()
    finally:
        # Only exiting remains: exempt what is allocated from the final collection, which
        # walks every object (~25 ms after a 1,000-file plan) to free memory the OS reclaims.
        gc.freeze()


def run() -> None:
    """The `gitcops` executable: main(), then the process ends without tearing down the
    interpreter (its exit handlers still run)."""
    try:
        main()
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def _exit_now(code: object) -> NoReturn:
    """Run the exit handlers, flush, and end the process. The interpreter's own teardown
    frees every object one by one (~10 ms after a 1,000-file apply), memory the OS takes back
    at once anyway. Where that shortcut is not safe (a thread other than daemons still runs,
    no exit-handler hook), the interpreter exits as usual."""
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_handlers is None or any(not t.daemon for t in others):
        raise SystemExit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xFF  # what the OS keeps of sys.exit(code); os._exit refuses big ones
    else:  # as sys.exit("message") does
        sys.stderr.write(f"{code}\n")
        status = 1
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # what Python exits with when stdout cannot be flushed
    os._exit(status)
