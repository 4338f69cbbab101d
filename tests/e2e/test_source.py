"""Revisions from Git objects: branches, tags, short and full shas, remotes, and --worktree."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import Cli, Repo, file_doc


def _contents(cli: Cli, repo_arg: str, *extra: str) -> str:
    """The rendered content of every File, joined: what the revision says."""
    rendered = cli("render", "--env", "dev", "--repo", repo_arg, *extra).stdout
    return "".join(
        d["spec"]["content"] for d in yaml.safe_load_all(rendered) if d["kind"] == "File"
    )


@pytest.fixture
def history(repo: Repo) -> dict[str, str]:
    first = repo.set_resources([file_doc("motd", "motd", "one\n")], "one")
    repo.git("tag", "v1")
    repo.git("branch", "release")
    second = repo.set_resources([file_doc("motd", "motd", "two\n")], "two")
    return {"first": first, "second": second}


@pytest.mark.parametrize(
    ("rev", "expected"),
    [
        (None, "two"),
        ("HEAD", "two"),
        ("main", "two"),
        ("v1", "one"),
        ("release", "one"),
        ("first-full", "one"),
        ("first-short", "one"),
        ("HEAD~1", "one"),
    ],
)
def test_revision_forms(
    cli: Cli, repo: Repo, history: dict[str, str], rev: str | None, expected: str
) -> None:
    resolved = {"first-full": history["first"], "first-short": history["first"][:7]}.get(rev, rev)
    extra = ["--rev", resolved] if resolved else []
    assert _contents(cli, str(repo.path), *extra) == f"{expected}\n"


def test_reads_git_objects_not_the_checkout(cli: Cli, repo: Repo, history: dict[str, str]) -> None:
    repo.write("base/resources.yaml", "this uncommitted file is not YAML: [")
    assert "two" in _contents(cli, str(repo.path))
    broken = cli("render", "--env", "dev", "--repo", str(repo.path), "--worktree", expect=1)
    assert "base/resources.yaml" in broken.stderr


def test_worktree_sees_uncommitted_files(cli: Cli, repo: Repo, history: dict[str, str]) -> None:
    repo.write("base/resources.yaml", json.dumps(file_doc("motd", "motd", "draft\n")))
    assert "draft" in _contents(cli, str(repo.path), "--worktree")
    planned = cli(
        "plan",
        "--env",
        "dev",
        "--worktree",
        "--out",
        str(repo.path.parent / "p.json"),
        repo=repo.path,
    )
    assert "uncommitted work tree" in planned.stdout
    refused = cli(
        "apply", "--env", "dev", str(repo.path.parent / "p.json"), repo=repo.path, expect=1
    )
    assert "apply only applies commits" in refused.stderr


def test_file_url_remote(cli: Cli, repo: Repo, history: dict[str, str], tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(repo.path), str(bare)], check=True)
    url = f"file://{bare}"
    assert "two" in _contents(cli, url)
    assert "one" in _contents(cli, url, "--rev", "v1")
    cli("apply", "--env", "dev", "--yes", "--repo", url)
    assert (repo.root / "motd").read_text() == "two\n"
    repo.set_resources([file_doc("motd", "motd", "three\n")], "three")
    subprocess.run(["git", "push", "--quiet", str(bare), "main"], cwd=repo.path, check=True)
    assert "three" in _contents(cli, url), "a later run fetches new commits"


@pytest.fixture
def http_remote(repo: Repo, history: dict[str, str], tmp_path: Path) -> Iterator[str]:
    served = tmp_path / "served"
    bare = served / "shop.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(repo.path), str(bare)], check=True)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass

    server = Quiet(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/shop.git"
    finally:
        server.shutdown()
        server.server_close()


def test_http_remote(cli: Cli, http_remote: str) -> None:
    assert "two" in _contents(cli, http_remote)
    assert "one" in _contents(cli, http_remote, "--rev", "v1")


def test_unreachable_remote(cli: Cli) -> None:
    result = cli("render", "--env", "dev", "--repo", "file:///nonexistent/repo.git", expect=1)
    assert "fetch file:///nonexistent/repo.git" in result.stderr


def test_not_a_repository(cli: Cli, tmp_path: Path) -> None:
    result = cli("plan", "--env", "dev", "--repo", str(tmp_path), expect=1)
    assert "not a Git repository" in result.stderr
    shutil.rmtree(tmp_path / "state", ignore_errors=True)


def test_worktree_leaves_out_what_git_ignores(cli: Cli, repo: Repo) -> None:
    """A CI job that writes its SARIF report into the work tree, then validates --worktree."""
    aws_key = "AKIA" + "Z4TQ7HKP3XV5WQ2N"
    repo.write(".gitignore", "*.sarif\nlocal/\n")
    repo.commit("ignore reports and local files")
    repo.write("results.sarif", json.dumps({"note": f"aws_access_key_id = {aws_key}"}))
    repo.write("notes/draft.md", f"aws_access_key_id = {aws_key}\n")  # untracked: scanned
    found = cli("validate", "--worktree", "--env", "dev", repo=repo.path, expect=1)
    assert "notes/draft.md:1" in found.output
    assert "results.sarif" not in found.output
    repo.remove("notes/draft.md")
    cli("validate", "--worktree", "--env", "dev", repo=repo.path)

    # Rendering sees the same files: an ignored one is not there, as a commit would not hold it.
    repo.write("base/local/extra.yaml", json.dumps(file_doc("extra", "extra", "x\n")))
    repo.write("base/kustomization.yaml", "resources:\n  - resources.yaml\n  - local/extra.yaml\n")
    missing = cli("render", "--worktree", "--env", "dev", repo=repo.path, expect=1)
    assert "'local/extra.yaml' does not exist" in missing.stderr


def test_remote_whose_head_names_a_missing_branch(
    cli: Cli, repo: Repo, history: dict[str, str], tmp_path: Path
) -> None:
    """A bare repository made with `git init --bare` (HEAD -> master) that only got `main`."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(repo.path), str(bare)], check=True)
    url = f"file://{bare}"
    assert "two" in _contents(cli, url), "HEAD still names main: the mirror records it"
    subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/master"], cwd=bare, check=True)

    assert "one" in _contents(cli, url, "--rev", history["first"])
    assert "two" in _contents(cli, url, "--rev", "main")
    assert "one" in _contents(cli, url, "--rev", "v1")
    result = cli("render", "--env", "dev", "--repo", url, expect=1)
    assert "HEAD names a branch that does not exist" in result.stderr
    assert "--rev" in result.stderr and "main" in result.stderr
    assert "Traceback" not in result.stderr

    subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/main"], cwd=bare, check=True)
    assert "two" in _contents(cli, url)


def test_an_empty_remote_has_no_commits(cli: Cli, tmp_path: Path) -> None:
    bare = tmp_path / "empty.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    result = cli("render", "--env", "dev", "--repo", f"file://{bare}", expect=1)
    assert "has no commits yet" in result.stderr


def test_a_missing_file_remote_says_what_failed(cli: Cli, tmp_path: Path) -> None:
    url = f"file://{tmp_path}/missing.git"
    result = cli("render", "--env", "dev", "--repo", url, expect=1)
    assert result.stderr == (
        f"error: cannot fetch {url}: '{tmp_path}/missing.git' does not appear to be a git "
        "repository; Could not read from remote repository (check the URL, network and "
        "credentials)\n"
    )


def test_an_unreachable_ssh_remote_says_what_failed(cli: Cli) -> None:
    if shutil.which("ssh") is None:
        pytest.skip("no ssh client")
    url = "ssh://git@127.0.0.1:1/shop.git"  # nothing listens on port 1
    result = cli("render", "--env", "dev", "--repo", url, expect=1)
    assert result.stderr.startswith("error: cannot fetch ssh://***@127.0.0.1:1/shop.git: ssh: ")
    assert "Connection refused" in result.stderr
    assert "Could not read from remote repository (check the URL" in result.stderr
    assert "and the repository exists" not in result.stderr


@pytest.mark.parametrize("credentials", ["alice:S3CRETTOKEN", "S3CRETTOKEN"])
def test_an_unreachable_https_remote_shows_no_credentials(cli: Cli, credentials: str) -> None:
    url = f"https://{credentials}@127.0.0.1:9/shop.git"  # nothing listens on port 9
    result = cli("render", "--env", "dev", "--repo", url, expect=1)
    assert result.stderr.startswith("error: cannot fetch https://***@127.0.0.1:9/shop.git: ")
    assert "unable to access" in result.stderr
    assert "S3CRETTOKEN" not in result.output and "alice" not in result.output
