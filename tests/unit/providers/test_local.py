"""The local provider: confinement, atomic writes, reads, edges and health checks."""

from __future__ import annotations

import base64
import os
import socket
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitcops.model.errors import ProviderError
from gitcops.model.identity import ResourceId
from gitcops.providers.base import (
    CheckRequest,
    CreateRequest,
    Declared,
    DeleteRequest,
    Edge,
    HealthChecker,
    PrepareRequest,
    ProviderConfigError,
    ProviderContext,
    ReadRequest,
    UpdateRequest,
    ValidateRequest,
)
from gitcops.providers.local import atomic
from gitcops.providers.local.atomic import SystemCalls, TempNames
from gitcops.providers.local.provider import LocalProvider, ProviderRootError

GROUP = "local.gitcops.io"


def file_id(name: str = "f") -> ResourceId:
    return ResourceId(GROUP, "File", name)


def dir_id(name: str = "d") -> ResourceId:
    return ResourceId(GROUP, "Directory", name)


def link_id(name: str = "l") -> ResourceId:
    return ResourceId(GROUP, "Symlink", name)


def check_id(name: str = "h") -> ResourceId:
    return ResourceId(GROUP, "HealthCheck", name)


def problems(provider: LocalProvider, rid: ResourceId, spec: dict[str, Any]) -> list[str]:
    """Validation problems as 'field: message' strings."""
    response = provider.validate(ValidateRequest(rid, spec))
    return [f"{'.'.join(map(str, path))}: {message}" for path, message in response.problems]


def read(provider: LocalProvider, rid: ResourceId, spec: dict[str, Any]) -> dict[str, Any] | None:
    return provider.read(ReadRequest(rid, spec)).live


def temp_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(atomic.TEMP_MARKER)]


# -- the root ------------------------------------------------------------------------------------


def test_a_root_that_is_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ProviderRootError, match="not a directory"):
        LocalProvider(ProviderContext({"root": str(tmp_path / "plain")}, tmp_path))


def test_a_missing_root_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="'root' is required"):
        LocalProvider(ProviderContext({}, tmp_path))


def test_a_relative_root_resolves_against_the_base_dir(tmp_path: Path) -> None:
    provider = LocalProvider(ProviderContext({"root": "sub/../out"}, tmp_path))
    assert provider.root == tmp_path / "out"
    provider.create(CreateRequest(file_id(), {"path": "a/b", "content": "x"}))
    assert (tmp_path / "out" / "a" / "b").read_text() == "x"  # a missing root is created


def test_address_is_the_normalised_path(provider: LocalProvider) -> None:
    root = provider.root
    assert provider.address(file_id(), {"path": "./etc//motd"}) == f"local:{root}/etc/motd"
    assert provider.address(dir_id(), {"path": "etc/"}) == f"local:{root}/etc"
    assert provider.address(file_id(), {"path": "../etc/motd"}) is None
    assert provider.address(check_id(), {"tcp": {"port": 1}}) is None


@pytest.mark.parametrize("root", ["/", "//", "/tmp/..", "../../../../../../../../../.."])
def test_the_filesystem_root_is_refused_unless_allowed(tmp_path: Path, root: str) -> None:
    with pytest.raises(ProviderConfigError) as refused:
        LocalProvider(ProviderContext({"root": root}, tmp_path))
    assert [path for path, _ in refused.value.problems] == [("root",)]
    assert "allowFilesystemRoot: true" in str(refused.value)
    allowed = LocalProvider(ProviderContext({"root": root, "allowFilesystemRoot": True}, tmp_path))
    assert allowed.root == Path("/")


def test_one_address_form_for_every_root(tmp_path: Path) -> None:
    """`local:` and the absolute path: under / as under any other root."""
    top = LocalProvider(ProviderContext({"root": "/", "allowFilesystemRoot": True}, tmp_path))
    assert top.address(file_id(), {"path": "a.txt"}) == "local:/a.txt"
    assert top.address(dir_id(), {"path": "./etc//ssh/"}) == "local:/etc/ssh"
    inner = LocalProvider(ProviderContext({"root": str(tmp_path)}, tmp_path))
    assert inner.address(file_id(), {"path": "a.txt"}) == f"local:{tmp_path}/a.txt"


def test_reads_and_writes_under_the_filesystem_root_use_plain_paths(tmp_path: Path) -> None:
    top = LocalProvider(ProviderContext({"root": "/", "allowFilesystemRoot": True}, tmp_path))
    rel = str(tmp_path / "under-root.txt").lstrip("/")
    top.create(CreateRequest(file_id(), {"path": rel, "content": "x"}))
    assert (tmp_path / "under-root.txt").read_text() == "x"
    assert read(top, file_id(), {"path": rel}) == {"path": rel, "content": "x"}


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        ({"root": "/srv", "allowFilesystemRoot": "yes"}, ("allowFilesystemRoot",), "boolean"),
        ({"root": 7}, ("root",), "string"),
        ({"root": "/srv", "rooot": "/x"}, ("rooot",), "unknown field"),
    ],
)
def test_settings_follow_the_config_schema(
    tmp_path: Path, config: dict[str, Any], path: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ProviderConfigError) as refused:
        LocalProvider(ProviderContext(config, tmp_path))
    assert [p for p, _ in refused.value.problems] == [path]
    assert message in refused.value.problems[0][1]


# -- confinement ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../x", "a/../../x", "..", ".", "a/..", "C:/Windows"]
)
@pytest.mark.parametrize("make", [file_id, dir_id, link_id])
def test_paths_outside_the_root_are_problems(provider: LocalProvider, path: str, make: Any) -> None:
    found = problems(provider, make(), {"path": path, "content": "", "target": "x"})
    assert len(found) == 1
    assert found[0].startswith("spec.path: ")


def test_paths_inside_the_root_are_fine(provider: LocalProvider, root: Path) -> None:
    (root / "real").mkdir()
    os.symlink("real", root / "inner")  # a relative symlink that stays inside
    os.symlink(root / "real", root / "inner-abs")
    for path in ["a", "a/b/c", "./a/../b", "inner/x", "inner-abs/x"]:
        assert problems(provider, file_id(), {"path": path, "content": ""}) == [], path


def test_a_symlink_in_an_existing_parent_pointing_outside_is_a_problem(
    provider: LocalProvider, root: Path, outside: Path
) -> None:
    os.symlink(outside, root / "escape")
    (root / "deep").mkdir()
    os.symlink("../../outside", root / "deep" / "up")
    for path in ["escape/secret", "escape/new/file", "deep/up/secret"]:
        found = problems(provider, file_id(), {"path": path, "content": ""})
        assert len(found) == 1 and "points outside the provider root" in found[0], path


def test_a_directory_that_is_a_symlink_pointing_outside_is_a_problem(
    provider: LocalProvider, root: Path, outside: Path
) -> None:
    os.symlink(outside, root / "escape")
    assert problems(provider, dir_id(), {"path": "escape"})


def test_writing_a_file_over_a_symlink_replaces_the_link_not_its_target(
    provider: LocalProvider, root: Path, outside: Path
) -> None:
    # Whether or not validation flags it, a write must never go through the link.
    os.symlink(outside / "secret", root / "motd")
    provider.create(CreateRequest(file_id(), {"path": "motd", "content": "mine\n"}))
    assert (outside / "secret").read_text() == "do not touch\n"
    assert not (root / "motd").is_symlink()
    assert (root / "motd").read_text() == "mine\n"


def test_writes_through_an_escaping_symlink_are_refused(
    provider: LocalProvider, root: Path, outside: Path
) -> None:
    os.symlink(outside, root / "escape")
    with pytest.raises(ProviderError, match="outside"):
        provider.create(CreateRequest(file_id(), {"path": "escape/new", "content": "x"}))
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


@pytest.mark.parametrize(
    ("path", "target"),
    [("l", "/etc/passwd"), ("l", "../outside"), ("a/b/l", "../../../x"), ("l", "..")],
)
def test_symlink_targets_outside_the_root_are_problems(
    provider: LocalProvider, path: str, target: str
) -> None:
    found = problems(provider, link_id(), {"path": path, "target": target})
    assert len(found) == 1 and found[0].startswith("spec.target: ")


def test_symlink_targets_inside_the_root_are_fine(provider: LocalProvider, root: Path) -> None:
    for path, target in [("l", "a"), ("a/b/l", "../c"), ("l", str(root / "x")), ("a/l", "..")]:
        assert problems(provider, link_id(), {"path": path, "target": target}) == [], target


def test_a_root_reached_through_a_symlink_still_accepts_inner_symlinks(tmp_path: Path) -> None:
    # Regression: links were resolved with realpath() but compared with an unresolved root.
    real = tmp_path / "releases" / "42"
    (real / "shared").mkdir(parents=True)
    os.symlink("shared", real / "current")  # a symlink inside the root, pointing inside
    os.symlink(real, tmp_path / "live")  # the configured root is itself a symlink
    provider = LocalProvider(ProviderContext({"root": str(tmp_path / "live")}, tmp_path))
    assert problems(provider, file_id(), {"path": "current/app.conf", "content": ""}) == []


def test_health_checks_have_no_path_problems(provider: LocalProvider) -> None:
    assert problems(provider, check_id(), {"tcp": {"port": 1}}) == []


# -- files ---------------------------------------------------------------------------------------


def test_file_create_writes_content_and_mode(provider: LocalProvider, root: Path) -> None:
    provider.create(
        CreateRequest(file_id(), {"path": "etc/motd", "content": "hi\n", "mode": "0600"})
    )
    target = root / "etc" / "motd"
    assert target.read_bytes() == b"hi\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert temp_files(target.parent) == []
    live = read(provider, file_id(), {"path": "etc/motd", "content": "", "mode": "0644"})
    assert live == {"path": "etc/motd", "content": "hi\n", "mode": "0600"}


def test_file_default_mode_is_0644(provider: LocalProvider, root: Path) -> None:
    provider.create(CreateRequest(file_id(), {"path": "f", "content": ""}))
    assert stat.S_IMODE((root / "f").stat().st_mode) == 0o644
    assert read(provider, file_id(), {"path": "f"}) == {"path": "f", "content": ""}


def test_file_update_replaces_by_rename(provider: LocalProvider, root: Path) -> None:
    spec = {"path": "f", "content": "old contents\n"}
    provider.create(CreateRequest(file_id(), spec))
    with (root / "f").open("rb") as reader:
        old_inode = os.fstat(reader.fileno()).st_ino
        provider.update(UpdateRequest(file_id(), {"path": "f", "content": "new\n"}, spec))
        # A reader that opened the old file still sees it whole: the new one was renamed in.
        assert reader.read() == b"old contents\n"
    assert (root / "f").read_text() == "new\n"
    assert (root / "f").stat().st_ino != old_inode
    assert temp_files(root) == []


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
    provider: LocalProvider, root: Path, make_provider: Callable[..., LocalProvider]
) -> None:
    provider.create(CreateRequest(file_id(), {"path": "f", "content": "old"}))

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    full = make_provider(calls=SystemCalls(fsync=no_space))
    with pytest.raises(ProviderError, match="No space left"):
        full.update(UpdateRequest(file_id(), {"path": "f", "content": "new"}, None))
    assert (root / "f").read_text() == "old"
    assert temp_files(root) == []


def test_binary_content_round_trips_as_base64(provider: LocalProvider, root: Path) -> None:
    data = b"\xff\xfe\x00binary\x80"
    encoded = base64.b64encode(data).decode()
    provider.create(CreateRequest(file_id(), {"path": "bin", "contentBase64": encoded}))
    assert (root / "bin").read_bytes() == data
    assert read(provider, file_id(), {"path": "bin"}) == {"path": "bin", "contentBase64": encoded}


def test_utf8_content_reads_back_as_text(provider: LocalProvider, root: Path) -> None:
    text = "grüße, 世界 ✓\n"
    provider.create(CreateRequest(file_id(), {"path": "t", "content": text}))
    assert (root / "t").read_bytes() == text.encode()
    assert read(provider, file_id(), {"path": "t"}) == {"path": "t", "content": text}


def prepare(provider: LocalProvider, rid: ResourceId, spec: dict[str, Any]) -> dict[str, Any]:
    sources = {"files/motd": "hello ✓\n".encode(), "files/logo.bin": b"\x89PNG\xff\x00"}
    return provider.prepare(PrepareRequest(rid, spec, lambda path: sources[path]))


def test_prepare_inlines_a_text_source(provider: LocalProvider) -> None:
    spec = {"path": "./etc//motd", "source": "files/motd", "mode": "644"}
    assert prepare(provider, file_id(), spec) == {
        "path": "etc/motd",
        "content": "hello ✓\n",
        "mode": "0644",
    }
    assert spec["source"] == "files/motd"  # the request's spec is not mutated


def test_prepare_inlines_a_binary_source_as_base64(provider: LocalProvider) -> None:
    prepared = prepare(provider, file_id(), {"path": "logo", "source": "files/logo.bin"})
    assert prepared == {
        "path": "logo",
        "contentBase64": base64.b64encode(b"\x89PNG\xff\x00").decode(),
    }


def test_prepare_leaves_escaping_paths_for_validate(provider: LocalProvider) -> None:
    assert prepare(provider, dir_id(), {"path": "../x", "mode": "0755"}) == {
        "path": "../x",
        "mode": "0755",
    }


def test_read_of_a_missing_object_is_none(provider: LocalProvider, root: Path) -> None:
    assert read(provider, file_id(), {"path": "nope"}) is None
    assert read(provider, dir_id(), {"path": "a/b/c"}) is None
    assert read(provider, link_id(), {"path": "l", "target": "x"}) is None
    (root / "plain").write_text("x")
    assert read(provider, file_id(), {"path": "plain/child"}) is None  # parent is a file
    assert read(provider, check_id(), {"tcp": {"port": 1}}) is None


def test_read_reports_the_type_of_a_mismatched_object(provider: LocalProvider, root: Path) -> None:
    (root / "dir").mkdir()
    (root / "file").write_text("x")
    os.symlink("file", root / "link")
    assert read(provider, file_id(), {"path": "dir"}) == {"path": "dir", "type": "directory"}
    assert read(provider, file_id(), {"path": "link"}) == {"path": "link", "type": "symlink"}
    assert read(provider, dir_id(), {"path": "file"}) == {"path": "file", "type": "file"}
    assert read(provider, link_id(), {"path": "file"}) == {"path": "file", "type": "file"}
    assert read(provider, link_id(), {"path": "link"}) == {"path": "link", "target": "file"}


def test_a_file_never_replaces_a_directory(provider: LocalProvider, root: Path) -> None:
    (root / "data").mkdir()
    (root / "data" / "keep").write_text("k")
    with pytest.raises(ProviderError, match="is a directory"):
        provider.create(CreateRequest(file_id(), {"path": "data", "content": "x"}))
    assert (root / "data" / "keep").read_text() == "k"


def test_a_file_never_replaces_an_empty_directory_and_leaves_no_temp_file(
    provider: LocalProvider, root: Path
) -> None:
    (root / "empty").mkdir()
    with pytest.raises(ProviderError, match="empty is a directory"):
        provider.create(CreateRequest(file_id(), {"path": "empty", "content": "x"}))
    assert (root / "empty").is_dir()
    assert temp_files(root) == []


def test_a_file_in_a_missing_directory_creates_it(provider: LocalProvider, root: Path) -> None:
    provider.create(CreateRequest(file_id(), {"path": "a/b/c.txt", "content": "x"}))
    assert (root / "a" / "b" / "c.txt").read_text() == "x"
    # Removed behind gitcops' back after a first write: made again.
    (root / "a" / "b" / "c.txt").unlink()
    (root / "a" / "b").rmdir()
    provider.create(CreateRequest(file_id(), {"path": "a/b/c.txt", "content": "y"}))
    assert (root / "a" / "b" / "c.txt").read_text() == "y"
    provider.sync()


def test_a_file_under_a_file_fails_cleanly_and_sync_goes_on(
    provider: LocalProvider, root: Path
) -> None:
    (root / "blocker").write_text("unmanaged")
    with pytest.raises(ProviderError, match="cannot write blocker/inside: Not a directory"):
        provider.create(CreateRequest(file_id(), {"path": "blocker/inside", "content": "x"}))
    provider.sync()  # the would-be directory is a file: nothing to sync, no error
    assert (root / "blocker").read_text() == "unmanaged"


def test_temp_names_are_unique_in_a_process_and_drawn_from_no_random_source() -> None:
    names = TempNames()
    assert names.pid == os.getpid()
    given = [names.next("/r/d/f") for _ in range(1000)]
    assert len(set(given)) == 1000
    assert all(n.startswith(f"/r/d/{atomic.TEMP_MARKER}f.") for n in given)
    again = TempNames(pid=names.pid)
    assert [again.next("/r/d/f") for _ in range(1000)] == given


def test_a_temp_name_taken_by_a_leftover_falls_back_to_a_random_one(root: Path) -> None:
    # A killed run of a process that had this one's id gave the same names.
    leftover = Path(TempNames(first=7).next(str(root / "f")))
    leftover.write_text("from a killed run")
    atomic.write_file(str(root / "f"), b"new", 0o640, TempNames(first=7))
    assert (root / "f").read_bytes() == b"new"
    assert (root / "f").stat().st_mode & 0o777 == 0o640
    assert leftover.read_text() == "from a killed run"  # not clobbered (the sweep removes it)


class _Synced:
    """A file-system sync that says it synced: enough where only names matter."""

    def syncfs(self, fd: int) -> int:
        return 0

    def errno(self) -> int:
        return 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
@pytest.mark.parametrize("start", ["sweep", "batch"])
def test_a_forked_child_names_its_temp_files_as_itself(
    root: Path, make_provider: Callable[..., LocalProvider], start: str
) -> None:
    """A child forked while a provider exists starts with its parent's process id in its temp
    names; before it sweeps a directory or starts a batch, it takes its own."""
    renamed: list[str] = []

    def recording_replace(src: str, dst: str) -> None:
        renamed.append(os.path.basename(src))
        os.replace(src, dst)

    provider = make_provider(calls=SystemCalls(replace=recording_replace), syncfs=_Synced)
    provider.create(CreateRequest(file_id("a"), {"path": "a", "content": "parent"}))
    assert f".{os.getpid()}-" in renamed[0]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            renamed.clear()
            if start == "sweep":  # a directory not written to yet
                provider.create(CreateRequest(file_id("b"), {"path": "new/b", "content": "b"}))
            else:  # in the root, swept before the fork
                provider.stage(True)
                provider.create(CreateRequest(file_id("b"), {"path": "b", "content": "b"}))
                assert provider.commit() == {}
            os.write(write_end, "/".join(renamed).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reported = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    names = reported.split("/")
    assert len(names) == 1 and f".{pid}-" in names[0], names


def test_file_delete_removes_it_and_tolerates_absence(provider: LocalProvider, root: Path) -> None:
    spec = {"path": "f", "content": "x"}
    provider.create(CreateRequest(file_id(), spec))
    provider.delete(DeleteRequest(file_id(), spec))
    assert not (root / "f").exists()
    provider.delete(DeleteRequest(file_id(), spec))  # already gone: fine


# -- temp files left by a crash ------------------------------------------------------------------


def test_temp_files_left_by_a_crash_are_swept_on_the_next_write(
    provider: LocalProvider, root: Path
) -> None:
    (root / "etc").mkdir()
    stale = root / "etc" / f"{atomic.TEMP_MARKER}motd.dead0001"
    stale.write_text("half-written")
    (root / "etc" / "unmanaged").write_text("keep me")
    (root / "other").mkdir()
    elsewhere = root / "other" / f"{atomic.TEMP_MARKER}x.dead0002"
    elsewhere.write_text("")

    provider.create(CreateRequest(file_id(), {"path": "etc/hosts", "content": "127.0.0.1\n"}))
    assert sorted(p.name for p in (root / "etc").iterdir()) == ["hosts", "unmanaged"]
    assert elsewhere.exists()  # only the directory written to is swept


def test_sweep_temp_files_counts_and_tolerates_missing_directories(tmp_path: Path) -> None:
    for n in range(3):
        (tmp_path / f"{atomic.TEMP_MARKER}f.{n}").write_text("")
    (tmp_path / "f").write_text("")
    assert atomic.sweep_temp_files(tmp_path) == 3
    assert atomic.sweep_temp_files(tmp_path) == 0
    assert atomic.sweep_temp_files(tmp_path / "missing") == 0
    assert atomic.sweep_temp_files(tmp_path / "f") == 0


def test_a_sweep_never_deletes_a_concurrent_writers_temp_file(
    root: Path, make_provider: Callable[..., LocalProvider]
) -> None:
    """Force the interleaving two parallel File creates in one new directory can produce.

    Regression: the first writer into a directory used to sweep it outside the lock, so it could
    unlink the temp file of a second writer that had already started (its rename then failed).
    """
    sweeping, temp_written, first_wrote = threading.Event(), threading.Event(), threading.Event()
    second_writer: list[int] = []

    def slow_scandir(directory: str) -> Iterable[os.DirEntry[str]]:
        if not sweeping.is_set():
            sweeping.set()
            # Give a second writer the chance to start; a correct provider keeps it waiting
            # until the sweep is over, so this wait then runs out.
            temp_written.wait(timeout=0.5)
        return os.scandir(directory)

    def hooked_fsync(fd: int) -> None:
        if threading.get_ident() not in second_writer:
            first_wrote.set()  # the first writer's sweep is over
        elif not temp_written.is_set():
            temp_written.set()  # the temp file exists, its rename is still to come
            first_wrote.wait(timeout=2)
        os.fsync(fd)

    provider = make_provider(calls=SystemCalls(fsync=hooked_fsync, scandir=slow_scandir))
    errors: list[BaseException] = []

    def write(name: str, second: bool) -> None:
        if second:
            second_writer.append(threading.get_ident())
        try:
            provider.create(CreateRequest(file_id(name), {"path": f"d/{name}", "content": name}))
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=write, args=("a", False))
    first.start()
    assert sweeping.wait(timeout=10)
    second = threading.Thread(target=write, args=("b", True))
    second.start()
    first.join(timeout=10)
    second.join(timeout=10)
    assert errors == []
    assert sorted(p.name for p in (root / "d").iterdir()) == ["a", "b"]


def test_a_write_recreates_a_parent_removed_since_an_earlier_write(
    provider: LocalProvider, root: Path
) -> None:
    spec = {"path": "d/a", "content": "x"}
    provider.create(CreateRequest(file_id("a"), spec))
    provider.delete(DeleteRequest(file_id("a"), spec))
    provider.delete(DeleteRequest(dir_id("d"), {"path": "d"}))
    provider.create(CreateRequest(file_id("b"), {"path": "d/b", "content": "y"}))
    assert (root / "d" / "b").read_text() == "y"


# -- directories ---------------------------------------------------------------------------------


def test_directory_create_with_mode_and_read(provider: LocalProvider, root: Path) -> None:
    provider.create(CreateRequest(dir_id(), {"path": "srv/app", "mode": "0750"}))
    assert stat.S_IMODE((root / "srv" / "app").stat().st_mode) == 0o750
    assert read(provider, dir_id(), {"path": "srv/app", "mode": "0755"}) == {
        "path": "srv/app",
        "mode": "0750",
    }
    assert read(provider, dir_id(), {"path": "srv/app"}) == {"path": "srv/app"}
    provider.update(UpdateRequest(dir_id(), {"path": "srv/app", "mode": "0700"}, None))
    assert stat.S_IMODE((root / "srv" / "app").stat().st_mode) == 0o700


def test_a_directory_never_replaces_a_file(provider: LocalProvider, root: Path) -> None:
    (root / "x").write_text("x")
    with pytest.raises(ProviderError, match="not a directory"):
        provider.create(CreateRequest(dir_id(), {"path": "x"}))
    assert (root / "x").read_text() == "x"


def test_directory_delete_removes_an_empty_directory(provider: LocalProvider, root: Path) -> None:
    provider.create(CreateRequest(dir_id(), {"path": "empty"}))
    provider.delete(DeleteRequest(dir_id(), {"path": "empty"}))
    assert not (root / "empty").exists()
    provider.delete(DeleteRequest(dir_id(), {"path": "empty"}))  # already gone: fine


def test_directory_delete_refuses_a_non_empty_directory(
    provider: LocalProvider, root: Path
) -> None:
    provider.create(CreateRequest(dir_id(), {"path": "full"}))
    (root / "full" / "user-data").write_text("precious")
    with pytest.raises(ProviderError, match="not empty"):
        provider.delete(DeleteRequest(dir_id(), {"path": "full"}))
    assert (root / "full" / "user-data").read_text() == "precious"


def test_directory_delete_leaves_a_symlink_alone(
    provider: LocalProvider, root: Path, outside: Path
) -> None:
    os.symlink(outside, root / "looks-like-dir")
    provider.delete(DeleteRequest(dir_id(), {"path": "looks-like-dir"}))
    assert (root / "looks-like-dir").is_symlink()
    assert (outside / "secret").exists()


# -- symlinks ------------------------------------------------------------------------------------


def test_symlink_create_and_replace(provider: LocalProvider, root: Path) -> None:
    provider.create(CreateRequest(link_id(), {"path": "current", "target": "releases/1"}))
    assert os.readlink(root / "current") == "releases/1"
    provider.update(UpdateRequest(link_id(), {"path": "current", "target": "releases/2"}, None))
    assert os.readlink(root / "current") == "releases/2"
    assert read(provider, link_id(), {"path": "current", "target": "x"}) == {
        "path": "current",
        "target": "releases/2",
    }
    assert temp_files(root) == []
    provider.delete(DeleteRequest(link_id(), {"path": "current", "target": "releases/2"}))
    assert not (root / "current").is_symlink()


def test_a_symlink_replaces_a_file_but_never_a_directory(
    provider: LocalProvider, root: Path
) -> None:
    (root / "was-file").write_text("x")
    provider.create(CreateRequest(link_id(), {"path": "was-file", "target": "elsewhere"}))
    assert os.readlink(root / "was-file") == "elsewhere"
    (root / "dir").mkdir()
    with pytest.raises(ProviderError, match="is a directory"):
        provider.create(CreateRequest(link_id(), {"path": "dir", "target": "elsewhere"}))
    assert (root / "dir").is_dir()


# -- implicit edges ------------------------------------------------------------------------------


def test_implicit_edges_point_at_the_nearest_managed_directory(provider: LocalProvider) -> None:
    resources = [
        Declared(dir_id("a"), {"path": "a"}),
        Declared(dir_id("ab"), {"path": "a/b/"}),
        Declared(file_id("deep"), {"path": "a/b/c/d/file"}),
        Declared(file_id("top"), {"path": "a/x"}),
        Declared(link_id("ln"), {"path": "./a/b/ln", "target": "x"}),
        Declared(file_id("free"), {"path": "z/file"}),
        Declared(file_id("root-level"), {"path": "file"}),
        Declared(check_id(), {"command": {"argv": ["true"]}}),
    ]
    assert sorted(provider.implicit_edges(resources), key=str) == sorted(
        [
            Edge(dir_id("ab"), dir_id("a")),
            Edge(file_id("deep"), dir_id("ab")),
            Edge(file_id("top"), dir_id("a")),
            Edge(link_id("ln"), dir_id("ab")),
        ],
        key=str,
    )


def test_no_directories_means_no_implicit_edges(provider: LocalProvider) -> None:
    assert provider.implicit_edges([Declared(file_id(), {"path": "a/b"})]) == []


# -- health checks -------------------------------------------------------------------------------


def check(provider: LocalProvider, spec: dict[str, Any]) -> tuple[bool, str, int]:
    assert isinstance(provider, HealthChecker)
    response = provider.check(CheckRequest(check_id(), spec))
    return response.healthy, response.message, response.attempts


def test_command_check_ok(provider: LocalProvider) -> None:
    assert check(provider, {"command": {"argv": [sys.executable, "-c", "pass"]}})[0:3:2] == (
        True,
        1,
    )


def test_command_check_failing_uses_every_retry(provider: LocalProvider) -> None:
    spec = {"command": {"argv": ["false"]}, "retries": 2, "intervalSeconds": 0}
    healthy, message, attempts = check(provider, spec)
    assert (healthy, attempts) == (False, 3)
    assert message == "command false: exit 1"


def test_command_check_succeeds_on_a_retry_and_runs_in_the_root(
    provider: LocalProvider, root: Path
) -> None:
    # Fails the first time (no marker yet in its working directory), succeeds after.
    script = "import os, sys; first = not os.path.exists('marker'); "
    script += "open('marker', 'a').close(); sys.exit(1 if first else 0)"
    spec = {"command": {"argv": [sys.executable, "-c", script]}, "retries": 5, "intervalSeconds": 0}
    healthy, _, attempts = check(provider, spec)
    assert (healthy, attempts) == (True, 2)
    assert (root / "marker").exists()


def test_command_check_reports_a_missing_program(provider: LocalProvider) -> None:
    healthy, message, _ = check(provider, {"command": {"argv": ["/nonexistent/probe"]}})
    assert not healthy and "/nonexistent/probe" in message


def test_tcp_check_against_a_listening_socket(provider: LocalProvider) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        healthy, message, attempts = check(provider, {"tcp": {"host": "127.0.0.1", "port": port}})
    assert (healthy, attempts) == (True, 1)
    assert message == f"tcp 127.0.0.1:{port}: connected"


def test_tcp_check_against_a_closed_port(provider: LocalProvider) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    spec = {"tcp": {"port": port}, "retries": 1, "intervalSeconds": 0, "timeoutSeconds": 2}
    healthy, message, attempts = check(provider, spec)
    assert (healthy, attempts) == (False, 2)
    assert message.startswith(f"tcp 127.0.0.1:{port}: ")


class _StatusHandler(BaseHTTPRequestHandler):
    """GET /NNN answers with status NNN; a 3xx also points its Location at /200."""

    def do_GET(self) -> None:
        if self.path.startswith("/auth"):  # 200 only with basic credentials u:p w
            good = self.headers.get("Authorization") == "Basic dTpwIHc="
            self.send_response(200 if good else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = int(self.path.strip("/"))
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/200")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for var in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]:
        monkeypatch.delenv(var, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_http_check_status_match(provider: LocalProvider, http_url: str) -> None:
    healthy, message, _ = check(provider, {"http": {"url": f"{http_url}/200"}})
    assert healthy and message.endswith(": 200")
    healthy, _, _ = check(provider, {"http": {"url": f"{http_url}/503", "expectStatus": 503}})
    assert healthy


def test_http_check_status_mismatch(provider: LocalProvider, http_url: str) -> None:
    spec = {"http": {"url": f"{http_url}/503"}, "retries": 1, "intervalSeconds": 0}
    healthy, message, attempts = check(provider, spec)
    assert (healthy, attempts) == (False, 2)
    assert message.endswith("status 503, expected 200")
    spec = {"http": {"url": f"{http_url}/200", "expectStatus": 204}}
    assert check(provider, spec)[0] is False


def test_http_check_can_expect_a_redirect(provider: LocalProvider, http_url: str) -> None:
    healthy, message, _ = check(provider, {"http": {"url": f"{http_url}/301", "expectStatus": 301}})
    assert healthy, message


def test_http_check_against_nothing_listening(provider: LocalProvider) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    healthy, message, _ = check(provider, {"http": {"url": f"http://127.0.0.1:{port}/"}})
    assert not healthy and message.startswith(f"GET http://127.0.0.1:{port}/: ")


def test_http_check_sends_url_credentials_and_never_shows_them_or_the_query(
    provider: LocalProvider, http_url: str
) -> None:
    authed = http_url.replace("http://", "http://u:p%20w@") + "/auth?token=t0ps3cr3t"
    healthy, message, _ = check(provider, {"http": {"url": authed}})
    assert healthy, message
    assert "p%20w" not in message and "t0ps3cr3t" not in message
    assert message == f"GET {http_url.replace('http://', 'http://***@')}/auth?...: 200"
    healthy, _, _ = check(provider, {"http": {"url": f"{http_url}/auth"}})
    assert not healthy


def test_a_long_file_name_leaves_room_for_the_temp_suffix(root: Path) -> None:
    """Temp names were `<marker><name>.<8 hex>`; with a process id and counter as suffix, a
    name of 229-233 bytes would not fit in 255 without the cut."""
    names = TempNames(pid=4194303, first=99999)  # the longest process id Linux gives
    for length in (228, 233, 240, 255):
        name = "L" * length
        atomic.write_file(str(root / name), b"x", 0o644, names)
        assert (root / name).read_bytes() == b"x"
    multibyte = "é" * 127  # 254 bytes
    atomic.write_file(str(root / multibyte), b"y", 0o644, names)
    assert (root / multibyte).read_bytes() == b"y"
    assert temp_files(root) == []
