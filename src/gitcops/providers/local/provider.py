"""The local provider: Directory, File, Symlink and HealthCheck, confined to one root."""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import functools
import os
import posixpath
import stat
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitcops.model.errors import ProviderError, TransientProviderError
from gitcops.model.identity import ResourceId
from gitcops.providers.base import (
    CheckRequest,
    CheckResponse,
    CreateRequest,
    Declared,
    DeleteRequest,
    Edge,
    KindInfo,
    PrepareError,
    PrepareRequest,
    ProviderConfigError,
    ProviderContext,
    ReadRequest,
    ReadResponse,
    Spec,
    UpdateRequest,
    ValidateRequest,
    ValidateResponse,
    WriteResponse,
)
from gitcops.providers.local import atomic, schemas, staging
from gitcops.providers.local.atomic import OS_CALLS, SystemCalls, TempNames
from gitcops.providers.local.paths import (
    ParentCheck,
    PathEscapeError,
    check_existing_components,
    climbs,
    relative_path,
    symlink_target_inside,
)

KINDS: Mapping[str, KindInfo] = {
    "File": KindInfo("File", schemas.FILE),
    "Directory": KindInfo("Directory", schemas.DIRECTORY),
    "Symlink": KindInfo("Symlink", schemas.SYMLINK),
    "HealthCheck": KindInfo("HealthCheck", schemas.HEALTH_CHECK, stateful=False),
}
_PATH_KINDS = ("File", "Directory", "Symlink")
_SETTINGS = frozenset(schemas.CONFIG["properties"])


class ProviderRootError(ProviderConfigError):
    """`root` names no usable directory."""

    def __init__(self, message: str) -> None:
        super().__init__("local", [(("root",), message)])


def _config_problems(config: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    # The common case checked by hand: compiling a schema costs more than a cached run spends.
    root, allow = config.get("root"), config.get("allowFilesystemRoot", False)
    if set(config) <= _SETTINGS and isinstance(root, str) and root and isinstance(allow, bool):
        return []
    from gitcops.model.schema import SchemaCache

    return list(SchemaCache.shared().errors(schemas.CONFIG, dict(config)))


# Worth another try: interrupted, busy (a file being executed, a mount point in use), or out of
# a resource for a moment.
_TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETXTBSY})


def _failure(message: str, exc: OSError) -> ProviderError:
    if exc.errno in _TRANSIENT_ERRNOS:
        return TransientProviderError(message)
    return ProviderError(message)


def _mode_text(bits: int) -> str:
    return f"0{bits & 0o777:03o}"


def _encode_content(data: bytes) -> dict[str, str]:
    try:
        return {"content": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"contentBase64": base64.b64encode(data).decode("ascii")}


def _content_bytes(spec: Spec) -> bytes:
    if "contentBase64" in spec:
        return base64.b64decode(spec["contentBase64"])
    return str(spec.get("content", "")).encode("utf-8")


class LocalProvider:
    """Writes go through `calls`; staging needs the file-system sync that `syncfs` gives
    (loaded when first staging; None: there is none, each file is fsynced as it is written).
    Tests pass ones that fail, count or wait."""

    name = "local"
    explicit_adoption = False  # files under its root are adopted as before

    def __init__(
        self,
        context: ProviderContext,
        *,
        calls: SystemCalls = OS_CALLS,
        syncfs: Callable[[], staging.FileSystemSync | None] = staging.libc_sync,
    ) -> None:
        problems = _config_problems(context.config)
        if problems:
            raise ProviderConfigError("local", problems)
        root = Path(str(context.config["root"])).expanduser()
        if not root.is_absolute():
            root = context.base_dir / root
        # Resolved, so confinement compares like with like when the root is reached via a link.
        # Leading slashes are one: "//" is "/" on every system gitcops runs on.
        resolved = os.path.realpath(root)
        self.root = Path("/" + resolved.lstrip("/"))
        if self.root == Path("/") and context.config.get("allowFilesystemRoot") is not True:
            raise ProviderRootError(
                f"{context.config['root']!r} is the filesystem root: every path on this machine "
                "could be managed; if that is meant, add allowFilesystemRoot: true beside it"
            )
        if self.root.exists():
            if not self.root.is_dir():
                raise ProviderRootError(f"root {self.root} is not a directory")
            if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
                raise ProviderRootError(f"root {self.root} is not readable and writable")
        # Where a path's text starts: one form, "/" + path under the root "/" too.
        self._prefix = str(self.root).rstrip("/") + "/"
        self._parents = ParentCheck(self.root)
        self._swept: set[str] = set()
        self._sweep_lock = threading.Lock()
        self._dirty: set[str] = set()  # directories whose new entries are not yet fsynced
        self._staged: staging.StagedFiles | None = None  # None: each write is done at once
        self._calls = calls
        self._syncfs = functools.cache(syncfs)
        self._names = TempNames()
        self.instance = context.instance or self.name

    # -- description -------------------------------------------------------------------------

    def kinds(self) -> Mapping[str, KindInfo]:
        return KINDS

    def address(self, id: ResourceId, spec: Spec) -> str | None:
        # Absolute: when the root moves, objects recorded under the old one are not confused
        # with whatever sits at the same relative path under the new one.
        if id.kind in _PATH_KINDS and isinstance(spec.get("path"), str):
            try:
                return f"local:{self._prefix}{relative_path(spec['path'])}"
            except PathEscapeError:
                return None
        return None

    def prepare(self, request: PrepareRequest) -> Spec:
        spec = dict(request.spec)
        if request.id.kind == "File" and "source" in spec:
            spec.update(_encode_content(request.read_source(str(spec.pop("source")))))
        if request.id.kind == "File" and "contentBase64" in spec:
            try:
                raw = base64.b64decode(str(spec.pop("contentBase64")), validate=True)
            except binascii.Error as exc:
                raise PrepareError(("spec", "contentBase64"), f"not valid base64: {exc}") from None
            # One canonical form, the one read() reports: text as `content`, bytes as base64.
            spec.update(_encode_content(raw))
        if "mode" in spec:
            spec["mode"] = _mode_text(int(str(spec["mode"]), 8))
        if "path" in spec:
            with contextlib.suppress(PathEscapeError):
                spec["path"] = relative_path(str(spec["path"]))
        return spec

    def validate(self, request: ValidateRequest) -> ValidateResponse:
        if request.id.kind not in _PATH_KINDS:
            return ValidateResponse()
        problems: list[tuple[tuple[str | int, ...], str]] = []
        path = str(request.spec.get("path", ""))
        try:
            rel = relative_path(path)
            self._parents.check(rel)
            if request.id.kind == "Directory":
                check_existing_components(self.root, rel, include_last=True)
        except PathEscapeError as exc:
            problems.append((("spec", "path"), str(exc)))
            return ValidateResponse(problems)
        if request.id.kind == "Symlink":
            try:
                symlink_target_inside(self.root, rel, str(request.spec.get("target", "")))
            except PathEscapeError as exc:
                problems.append((("spec", "target"), str(exc)))
        return ValidateResponse(problems)

    def validate_set(
        self, resources: Sequence[Declared]
    ) -> list[tuple[ResourceId, tuple[str | int, ...], str]]:
        """A link whose target climbs ('../x') may not live under a managed symlink."""
        links = {
            posixpath.normpath(r.spec["path"]): r.id
            for r in resources
            if r.id.kind == "Symlink" and isinstance(r.spec.get("path"), str)
        }
        problems: list[tuple[ResourceId, tuple[str | int, ...], str]] = []
        for res in resources:
            target = res.spec.get("target")
            if res.id.kind != "Symlink" or not isinstance(target, str) or not climbs(target):
                continue
            parent = posixpath.dirname(posixpath.normpath(str(res.spec["path"])))
            while parent:
                if parent in links:
                    problems.append(
                        (
                            res.id,
                            ("spec", "target"),
                            f"symlink target {target!r} climbs out of {parent}, which is the "
                            f"managed symlink {links[parent]}",
                        )
                    )
                    break
                parent = posixpath.dirname(parent)
        return problems

    def implicit_edges(self, resources: Sequence[Declared]) -> list[Edge]:
        """A path inside a managed Directory depends on that directory (its nearest one)."""
        directories: dict[str, ResourceId] = {}
        for res in resources:
            if res.id.kind == "Directory" and isinstance(res.spec.get("path"), str):
                directories[posixpath.normpath(res.spec["path"])] = res.id
        edges: list[Edge] = []
        if not directories:
            return edges
        for res in resources:
            path = res.spec.get("path")
            if res.id.kind not in _PATH_KINDS or not isinstance(path, str):
                continue
            parent = posixpath.dirname(posixpath.normpath(path))
            while parent:
                owner = directories.get(parent)
                if owner is not None:
                    edges.append(Edge(res.id, owner))
                    break
                parent = posixpath.dirname(parent)
        return edges

    # -- reading -----------------------------------------------------------------------------

    def _abs(self, spec: Spec) -> str:
        """The absolute path, refusing any that leaves the root through a symlink on disk."""
        rel = relative_path(str(spec["path"]))
        try:
            self._parents.check(rel)
        except PathEscapeError as exc:
            raise ProviderError(str(exc)) from None
        return f"{self._prefix}{rel}"

    def read(self, request: ReadRequest) -> ReadResponse:
        kind = request.id.kind
        if kind not in _PATH_KINDS:
            return ReadResponse(None)
        path = self._abs(request.spec)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return ReadResponse(None)
        except PermissionError as exc:
            raise ProviderError(f"cannot read {path}: permission denied") from exc
        live: Spec = {"path": request.spec["path"]}
        if kind == "File":
            if not stat.S_ISREG(st.st_mode):
                live["type"] = _type_name(st.st_mode)
                return ReadResponse(live)
            live.update(_encode_content(_read_all(path, st.st_size)))
        elif kind == "Directory":
            if not stat.S_ISDIR(st.st_mode):
                live["type"] = _type_name(st.st_mode)
                return ReadResponse(live)
        else:
            if not stat.S_ISLNK(st.st_mode):
                live["type"] = _type_name(st.st_mode)
                return ReadResponse(live)
            live["target"] = os.readlink(path)
            return ReadResponse(live)
        if "mode" in request.spec:
            live["mode"] = _mode_text(st.st_mode)
        return ReadResponse(live)

    # -- writing -----------------------------------------------------------------------------

    def _prepare_parent(self, parent: str, rel: str, *, create: bool = True) -> None:
        """Check the path's directories and note its `parent` for sync(); with `create`, make
        it (a File's write makes it only when the first attempt finds it missing)."""
        try:
            check_existing_components(self.root, rel, include_last=False)
        except PathEscapeError as exc:
            raise ProviderError(str(exc)) from exc
        if create:
            # Every time: the directory may have been removed since an earlier write.
            os.makedirs(parent, exist_ok=True)
        # Sweep under the lock so no thread starts writing into a directory being swept.
        with self._sweep_lock:
            self._dirty.add(parent)
            if parent not in self._swept:
                # The same directory may be reached under another spelling (through a link,
                # or "//etc" from root "/"): this run's staged files waiting there stay.
                keep = self._staged.names if self._staged is not None else ()
                self._names.renew()  # or a forked child could sweep, then reuse, a parent's name
                atomic.sweep_temp_files(parent, keep, self._calls)
                self._swept.add(parent)

    def stage(self, on: bool) -> None:
        if self._staged is not None:
            self._staged.discard()
        self._staged = None
        self._names.renew()  # a batch in a forked child names its files as the child
        sync = self._syncfs() if on else None
        if sync is not None:
            self._staged = staging.StagedFiles(sync, self._calls)

    def commit(self) -> dict[ResourceId, str]:
        return self._staged.commit() if self._staged is not None else {}

    def sync(self) -> None:
        """fsync each directory written to once, instead of once per file renamed into it."""
        with self._sweep_lock:
            dirty, self._dirty = self._dirty, set()
        for directory in sorted(dirty):
            # Gone, or never made (a file stood where it should be): nothing to make durable.
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                atomic.fsync_dir(directory, self._calls)

    def _write(self, id: ResourceId, spec: Spec) -> WriteResponse:
        rel = relative_path(str(spec["path"]))
        if id.kind == "File":
            return self._write_file(id, rel, spec)
        path = self.root / rel
        self._prepare_parent(str(path.parent), rel)
        try:
            if id.kind == "Directory":
                mode = int(str(spec.get("mode", "0755")), 8)
                if path.is_symlink() or (path.exists() and not path.is_dir()):
                    raise ProviderError(f"{rel} exists and is not a directory")
                path.mkdir(mode=mode, exist_ok=True)
                if "mode" in spec:
                    os.chmod(path, mode)
            elif id.kind == "Symlink":
                if path.is_dir() and not path.is_symlink():
                    raise ProviderError(f"{rel} is a directory; refusing to replace it by a link")
                atomic.write_symlink(path, str(spec["target"]), self._calls)
        except OSError as exc:
            raise _failure(f"cannot write {rel}: {exc.strerror or exc}", exc) from exc
        return WriteResponse()

    def _write_file(self, id: ResourceId, rel: str, spec: Spec) -> WriteResponse:
        # The fewest system calls (the directory exists; no directory sits where the file
        # goes) and plain strings, not Paths, on the path every file takes.
        target = f"{self._prefix}{rel}"
        parent = target.rpartition("/")[0]
        self._prepare_parent(parent, rel, create=False)
        mode = int(str(spec.get("mode", "0644")), 8)
        data = _content_bytes(spec)
        try:
            try:
                temp = self._put(target, data, mode)
            except FileNotFoundError:
                os.makedirs(parent, exist_ok=True)
                temp = self._put(target, data, mode)
        except OSError as exc:
            raise _failure(staging.write_failure(rel, exc), exc) from exc
        if temp is None:
            return WriteResponse()
        assert self._staged is not None
        self._staged.add(staging.StagedFile(id, temp, target, rel))
        return WriteResponse(staged=True)

    def _put(self, target: str, data: bytes, mode: int) -> str | None:
        """Writes the file (None), or when staging, its temp file (whose name it returns)."""
        if self._staged is None:
            atomic.write_file(target, data, mode, self._names, self._calls)
            return None
        return atomic.write_temp(target, data, mode, self._names, self._calls, durable=False)

    def create(self, request: CreateRequest) -> WriteResponse:
        return self._write(request.id, request.spec)

    def update(self, request: UpdateRequest) -> WriteResponse:
        return self._write(request.id, request.spec)

    def delete(self, request: DeleteRequest) -> WriteResponse:
        if request.id.kind not in _PATH_KINDS:
            return WriteResponse()
        rel = relative_path(str(request.spec["path"]))
        path = self.root / rel
        try:
            check_existing_components(self.root, rel, include_last=False)
        except PathEscapeError as exc:
            raise ProviderError(f"refusing to delete: {exc}") from None
        try:
            if request.id.kind == "Directory":
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
            elif path.is_symlink() or path.is_file():
                path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno == errno.ENOTEMPTY:  # never remove content gitcops does not manage
                raise ProviderError(
                    f"{rel} is not empty: it holds files gitcops does not manage"
                ) from None
            raise _failure(f"cannot delete {rel}: {exc.strerror or exc}", exc) from exc
        return WriteResponse()

    def import_spec(self, kind: str, name: str) -> Spec:
        """`gitcops import local.gitcops.io/File/etc/motd`: the name is the path under the root
        (its mode read too)."""
        if kind not in _PATH_KINDS:
            raise ProviderError(f"{kind} has nothing to import: it is a check, not an object")
        try:
            rel = relative_path(name)
        except PathEscapeError as exc:
            raise ProviderError(str(exc)) from None
        return {"path": rel} if kind == "Symlink" else {"path": rel, "mode": None}

    def check(self, request: CheckRequest) -> CheckResponse:
        from gitcops.providers.local.health import run_check  # urllib: only when checking

        # Commands run in the root, which exists by now unless nothing was ever written there.
        self.root.mkdir(parents=True, exist_ok=True)
        return run_check(request.spec, self.root)


def _read_all(path: str, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        chunks = [os.read(fd, size + 1)]
        if len(chunks[0]) <= size:
            return chunks[0]  # a short read of a regular file: its end (no second call)
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 16))  # it grew since lstat: read all of it
    finally:
        os.close(fd)
    return b"".join(chunks)


def _type_name(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISREG(mode):
        return "file"
    return "special"
