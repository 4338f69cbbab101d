"""One place that turns gitcops errors into messages and exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer

from gitcops.cli.output import err

P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from gitcops.model.errors import GitcopsError, InvalidInputError

        try:
            return func(*args, **kwargs)
        except InvalidInputError as exc:
            count = len(exc.diagnostics)
            err(f"error: {count} problem{'s' if count != 1 else ''} found:")
            for diagnostic in exc.diagnostics:
                err(f"  {diagnostic}")
            raise typer.Exit(1) from None
        except GitcopsError as exc:
            err(f"error: {exc}")
            raise typer.Exit(1) from None
        except OSError as exc:  # a path the user gave cannot be read or written
            where = f": {exc.filename}" if exc.filename else ""
            err(f"error: {exc.strerror or exc}{where}")
            raise typer.Exit(1) from None

    return wrapper


def fail(message: str, code: int = 1) -> NoReturn:
    err(f"error: {message}")
    raise typer.Exit(code)
