"""Two projects with identical trees share one cache directory and never each other's answers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import Cli


def _init(cli: Cli, path: Path) -> None:
    cli("init", str(path))


def test_identical_projects_keep_their_own_paths(cli: Cli, tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    _init(cli, a)
    _init(cli, b)
    state_a, state_b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    cli("apply", "--env", "dev", "--yes", "--state", state_a, repo=a)
    cli("apply", "--env", "dev", "--yes", "--state", state_b, repo=b)

    # B's plan and inventory name B's objects, not A's (identical trees, one cache).
    plan = json.loads(cli("plan", "--env", "dev", "-o", "json", "--state", state_b, repo=b).stdout)
    addresses = [c["address"] for c in plan["changes"] if c["address"]]
    assert addresses, plan
    assert all(str(b / "out" / "dev") in address for address in addresses), addresses
    assert (b / "out" / "dev" / "etc" / "motd").exists()

    # Removing a resource from B deletes B's object, and A's stays.
    assert (b / "out" / "dev" / "current").is_symlink()
    (b / "base" / "site.yaml").write_text(
        "\n---\n".join(
            part
            for part in (b / "base" / "site.yaml").read_text().split("\n---\n")
            if "kind: Symlink" not in part
        )
    )
    subprocess.run(["git", "-C", str(b), "commit", "-qam", "no motd"], check=True, env=cli.env)
    done = cli("apply", "--env", "dev", "--yes", "--state", state_b, repo=b)
    assert "1 deleted" in done.stdout
    assert not (b / "out" / "dev" / "current").is_symlink()
    assert (a / "out" / "dev" / "current").is_symlink()
