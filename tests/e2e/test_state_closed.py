"""Every command closes its state store before exiting: SQLite folds its write-ahead log back
into the database file, so nothing but the database (and its lock directory) is left."""

from __future__ import annotations

from conftest import Cli, Repo


def test_the_state_store_is_closed_on_exit(cli: Cli, repo: Repo) -> None:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    cli("plan", "--env", "dev", repo=repo.path)
    cli("status", repo=repo.path)
    leftovers = sorted(p.name for p in cli.state.parent.iterdir() if p.name != "state.db")
    assert not [name for name in leftovers if name.endswith(("-wal", "-shm"))], leftovers
