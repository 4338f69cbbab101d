"""command_for: a run builds only the command it invokes, with the same help and errors."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer import _click

from gitcops.cli.main import app, command_for

FULL: Any = typer.main.get_command(app)


def help_of(group: Any, path: list[str]) -> str:
    """`gitcops PATH --help` as text, read from the command objects."""
    ctx = _click.core.Context(group, info_name="gitcops")
    command = group
    for name in path:
        command = command.commands[name]
        ctx = _click.core.Context(command, info_name=name, parent=ctx)
    return str(command.get_help(ctx))


@pytest.mark.parametrize("name", sorted(FULL.commands))
def test_only_the_named_command_is_built_and_its_help_is_unchanged(name: str) -> None:
    group = command_for([name, "--flag"])
    assert isinstance(group, typer.core.TyperGroup)
    assert list(group.commands) == [name]
    assert help_of(group, [name]) == help_of(FULL, [name])
    sub = FULL.commands[name]
    for inner in sorted(getattr(sub, "commands", {})):
        assert help_of(group, [name, inner]) == help_of(FULL, [name, inner])


@pytest.mark.parametrize("args", [[], ["--help"], ["aply"], ["-x", "apply"]])
def test_anything_else_gets_the_whole_application(args: list[str]) -> None:
    group = command_for(args)
    assert sorted(group.commands) == sorted(FULL.commands)
    assert help_of(group, []) == help_of(FULL, [])
