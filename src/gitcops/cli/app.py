"""The Typer application the command modules register on."""

from __future__ import annotations

import typer

from gitcops.cli.secrets_cmds import secrets_app

app = typer.Typer(
    name="gitcops",
    help="GitOps engine: Git is the source of truth; plan, apply, verify, reconcile, audit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(secrets_app, name="secrets")


def _show_version(value: bool) -> None:
    if value:
        from gitcops import __version__

        typer.echo(f"gitcops {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print gitcops' version and exit.",
        is_eager=True,
        callback=_show_version,
    ),
) -> None:
    """GitOps engine: Git is the source of truth; plan, apply, verify, reconcile, audit."""
