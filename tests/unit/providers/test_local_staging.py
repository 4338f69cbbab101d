"""The local provider's staged writes: invisible until commit, then durable and visible at once."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitcops.model.identity import ResourceId
from gitcops.providers.base import CreateRequest, Staging, UpdateRequest
from gitcops.providers.local import atomic
from gitcops.providers.local.atomic import SystemCalls
from gitcops.providers.local.provider import LocalProvider
from gitcops.providers.local.staging import FileSystemSync, libc_sync

GROUP = "local.gitcops.io"
LIBC = libc_sync()

pytestmark = pytest.mark.skipif(LIBC is None, reason="no syncfs on this system")


def file_id(name: str) -> ResourceId:
    return ResourceId(GROUP, "File", name)


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(f"{atomic.TEMP_MARKER}*"))


class CountingSync:
    """Counts its calls; syncs through `real`, or fails with `errno` (set) as syncfs does."""

    def __init__(self, real: FileSystemSync | None = None, *, errno: int = 0) -> None:
        self.calls: list[int] = []
        self._real = real
        self._errno = errno

    def syncfs(self, fd: int) -> int:
        self.calls.append(fd)
        if self._errno:
            return -1
        assert self._real is not None
        return self._real.syncfs(fd)

    def errno(self) -> int:
        return self._errno


def counting_fsync(fsyncs: list[int]) -> Callable[[int], None]:
    def fsync(fd: int) -> None:
        fsyncs.append(fd)
        os.fsync(fd)

    return fsync


def test_the_local_provider_stages(provider: LocalProvider) -> None:
    assert isinstance(provider, Staging)


def test_a_staged_file_appears_only_on_commit_with_its_content_and_mode(
    provider: LocalProvider, root: Path
) -> None:
    provider.stage(True)
    response = provider.create(
        CreateRequest(file_id("a"), {"path": "sub/a", "content": "hello\n", "mode": "0600"})
    )
    assert response.staged
    assert not (root / "sub" / "a").exists()
    assert len(temp_files(root)) == 1

    assert provider.commit() == {}
    assert (root / "sub" / "a").read_text() == "hello\n"
    assert (root / "sub" / "a").stat().st_mode & 0o777 == 0o600
    assert temp_files(root) == []
    assert provider.commit() == {}  # nothing left to commit


def test_one_file_system_sync_replaces_an_fsync_per_file(
    make_provider: Callable[..., LocalProvider], root: Path
) -> None:
    fsyncs: list[int] = []
    sync = CountingSync(LIBC)
    provider = make_provider(calls=SystemCalls(fsync=counting_fsync(fsyncs)), syncfs=lambda: sync)
    provider.stage(True)
    for n in range(50):
        provider.create(CreateRequest(file_id(f"f{n}"), {"path": f"d{n % 2}/f{n}", "content": "x"}))
    assert provider.commit() == {}
    assert fsyncs == []
    assert len(sync.calls) == 1  # both directories are on one file system
    assert len(list(root.rglob("f*"))) == 50


def test_an_update_replaces_the_old_file_only_on_commit(
    provider: LocalProvider, root: Path
) -> None:
    (root / "f").write_text("old")
    provider.stage(True)
    provider.update(UpdateRequest(file_id("f"), {"path": "f", "content": "new"}, None))
    assert (root / "f").read_text() == "old"
    provider.commit()
    assert (root / "f").read_text() == "new"


def test_a_directory_in_the_way_fails_only_its_file_at_commit(
    provider: LocalProvider, root: Path
) -> None:
    provider.stage(True)
    provider.create(CreateRequest(file_id("ok"), {"path": "ok", "content": "1"}))
    provider.create(CreateRequest(file_id("blocked"), {"path": "blocked", "content": "2"}))
    (root / "blocked").mkdir()  # appeared after the write was staged

    failures = provider.commit()

    assert failures == {
        file_id("blocked"): "blocked is a directory; refusing to replace it by a file"
    }
    assert (root / "ok").read_text() == "1"
    assert (root / "blocked").is_dir()
    assert temp_files(root) == []


def test_a_failed_sync_fails_every_staged_file_and_shows_none(
    make_provider: Callable[..., LocalProvider], root: Path
) -> None:
    provider = make_provider(syncfs=lambda: CountingSync(errno=errno.EIO))
    provider.stage(True)
    provider.create(CreateRequest(file_id("a"), {"path": "a", "content": "1"}))
    provider.create(CreateRequest(file_id("b"), {"path": "b", "content": "2"}))

    failures = provider.commit()

    reason = f"cannot make the write durable: {os.strerror(errno.EIO)}"
    assert failures == {file_id("a"): reason, file_id("b"): reason}
    assert not (root / "a").exists() and not (root / "b").exists()
    assert temp_files(root) == []


def test_staging_off_drops_what_was_not_committed_and_writes_at_once_again(
    provider: LocalProvider, root: Path
) -> None:
    provider.stage(True)
    provider.create(CreateRequest(file_id("a"), {"path": "a", "content": "1"}))
    provider.stage(False)
    assert temp_files(root) == [] and not (root / "a").exists()

    response = provider.create(CreateRequest(file_id("a"), {"path": "a", "content": "1"}))
    assert not response.staged
    assert (root / "a").read_text() == "1"


def test_without_syncfs_writes_are_done_at_once(
    make_provider: Callable[..., LocalProvider], root: Path
) -> None:
    provider = make_provider(syncfs=lambda: None)
    provider.stage(True)
    response = provider.create(CreateRequest(file_id("a"), {"path": "a", "content": "1"}))
    assert not response.staged
    assert (root / "a").read_text() == "1"
    assert provider.commit() == {}


def test_a_sweep_by_another_spelling_of_the_directory_keeps_staged_files(
    provider: LocalProvider, root: Path
) -> None:
    (root / "real").mkdir()
    (root / "link").symlink_to("real")
    provider.stage(True)
    provider.create(CreateRequest(file_id("a"), {"path": "link/a", "content": "1"}))
    # The first write under "real/" sweeps that directory: the staged "link/a" waits there.
    provider.create(CreateRequest(file_id("b"), {"path": "real/b", "content": "2"}))
    assert provider.commit() == {}
    assert (root / "real" / "a").read_text() == "1"
    assert (root / "real" / "b").read_text() == "2"


def test_a_leftover_of_a_killed_run_is_still_swept(provider: LocalProvider, root: Path) -> None:
    (root / "d").mkdir()
    leftover = root / "d" / f"{atomic.TEMP_MARKER}x.dead0001"
    leftover.write_text("half")
    provider.stage(True)
    provider.create(CreateRequest(file_id("a"), {"path": "d/a", "content": "1"}))
    assert not leftover.exists()
    assert provider.commit() == {}


def test_a_refused_syncfs_falls_back_to_an_fsync_per_file(
    make_provider: Callable[..., LocalProvider], root: Path
) -> None:
    fsyncs: list[int] = []
    provider = make_provider(
        calls=SystemCalls(fsync=counting_fsync(fsyncs)),
        syncfs=lambda: CountingSync(errno=errno.EPERM),  # a sandbox's seccomp filter
    )
    provider.stage(True)
    provider.create(CreateRequest(file_id("a"), {"path": "a", "content": "1"}))
    provider.create(CreateRequest(file_id("b"), {"path": "b", "content": "2"}))
    assert provider.commit() == {}
    assert len(fsyncs) == 2
    assert (root / "a").read_text() == "1" and (root / "b").read_text() == "2"
    assert temp_files(root) == []


def test_an_interrupted_commit_leaves_no_temp_file(
    make_provider: Callable[..., LocalProvider], root: Path
) -> None:
    renames: list[str] = []

    def interrupted(src: str, dst: str) -> None:
        renames.append(dst)
        if len(renames) == 2:
            raise KeyboardInterrupt
        os.replace(src, dst)

    provider = make_provider(calls=SystemCalls(replace=interrupted))
    provider.stage(True)
    for name in "abc":
        provider.create(CreateRequest(file_id(name), {"path": name, "content": name}))
    with pytest.raises(KeyboardInterrupt):
        provider.commit()
    assert (root / "a").exists() and not (root / "b").exists() and not (root / "c").exists()
    assert temp_files(root) == []
    assert provider.commit() == {}  # nothing left staged
