"""A throwaway PostgreSQL server for the tests, started by the tests themselves.

`PostgresServer` runs `initdb` into a fresh temporary directory and `pg_ctl start` on a free
loopback port, with durability switched off (the data is thrown away anyway). It can be taken
down abruptly (`kill`) and brought back on the same port and data (`start_again`), so a test can
watch the database vanish mid-operation, as a real one does when it crashes or fails over.

PostgreSQL refuses to run as root; under root (containers, CI) the server runs as the `postgres`
system user, or `nobody` when there is none. Every server still running when the interpreter
exits is stopped, so an aborted test run leaves no postgres processes behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeAlias

import psycopg
from psycopg.abc import Params
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Composed

# What psql() runs: text, or a statement composed with psycopg.sql.
Statement: TypeAlias = str | bytes | SQL | Composed

_TOOLS = ("initdb", "pg_ctl", "postgres")
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_HOST = "127.0.0.1"
_ADMIN = "gitcops_admin"
# Unix socket paths are limited to 107 bytes, and the socket file adds ~16 to the directory.
_MAX_SOCKET_PARENT = 60
# Servers started and not yet stopped, for the exit hook.
_LIVE: set[PostgresServer] = set()


class PostgresServerError(RuntimeError):
    """The server could not be set up or started."""


def postgres_binaries() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: $GITCOPS_PG_BIN, else the newest
    /usr/lib/postgresql/<N>/bin (Debian keeps them off PATH), else initdb's on PATH, else None."""
    override = os.environ.get("GITCOPS_PG_BIN")
    if override:
        return Path(override)
    for candidate in _debian_bin_dirs():
        if _has_tools(candidate):
            return candidate
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def _debian_bin_dirs() -> list[Path]:
    found = _DEBIAN_ROOT.glob("*/bin")
    return sorted(found, key=lambda path: _version_key(path.parent.name), reverse=True)


def _version_key(name: str) -> tuple[int, ...]:
    # Debian names the directories by major version ("9.6", "16"); anything else sorts last.
    try:
        return tuple(int(part) for part in name.split("."))
    except ValueError:
        return (-1,)


def _has_tools(directory: Path) -> bool:
    return all((directory / tool).is_file() for tool in _TOOLS)


def _unprivileged_account() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as: None (ourselves) unless we are root, which it refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresServerError("running as root, and there is no postgres or nobody user")


def _temp_parent(account: pwd.struct_passwd | None) -> str:
    # Under root, $TMPDIR may sit below /root, which the server's user cannot traverse; a long
    # $TMPDIR would overflow the socket path.
    default = tempfile.gettempdir()
    if account is None and len(default) <= _MAX_SOCKET_PARENT:
        return default
    return "/tmp"


def _free_port() -> int:
    # The kernel hands out a port nobody holds; the window before postgres binds it is tiny.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _server_env(home: Path) -> dict[str, str]:
    # PG* variables from the caller's shell (PGDATA, PGPORT, ...) would steer the tools elsewhere;
    # HOME points where the unprivileged user can read.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(HOME=str(home), LC_ALL="C", LANG="C")
    return env


class PostgresServer:
    """One PostgreSQL server on 127.0.0.1 with superuser `gitcops_admin` and trust
    authentication, in a temporary directory removed by `stop()`. A context manager."""

    def __init__(self, binaries: Path | None = None, *, ready_timeout: float = 30.0) -> None:
        found = binaries or postgres_binaries()
        if found is None:
            raise PostgresServerError(
                "PostgreSQL server binaries not found (install the Debian package postgresql, "
                "or set GITCOPS_PG_BIN)"
            )
        self._bin = found
        self._account = _unprivileged_account()
        self._ready_timeout = ready_timeout
        self._root: Path | None = None
        self._port: int | None = None
        self._running = False
        self._owner_pid = os.getpid()

    # -- what tests connect to ---------------------------------------------------------------

    @property
    def host(self) -> str:
        return _HOST

    @property
    def user(self) -> str:
        return _ADMIN

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresServerError("the server has not been started")
        return self._port

    @property
    def running(self) -> bool:
        """Whether the server is up: started and not killed or stopped."""
        return self._running

    @property
    def data_dir(self) -> Path:
        return self._require_root() / "data"

    @property
    def log_path(self) -> Path:
        return self._require_root() / "postgres.log"

    def dsn(
        self, database: str = "postgres", user: str | None = None, password: str | None = None
    ) -> str:
        """A libpq key=value connection string for `database` over TCP."""
        params: dict[str, str | int] = {
            "host": self.host,
            "port": self.port,
            "dbname": database,
            "user": user or self.user,
        }
        if password is not None:
            params["password"] = password
        return make_conninfo("", **params)

    def connect(
        self,
        database: str = "postgres",
        *,
        user: str | None = None,
        password: str | None = None,
        **kw: Any,
    ) -> psycopg.Connection[tuple[Any, ...]]:
        """An autocommit connection; `kw` goes to psycopg.connect (connect_timeout, ...)."""
        return psycopg.connect(self.dsn(database, user, password), autocommit=True, **kw)

    def psql(
        self, sql: Statement, database: str = "postgres", *, params: Params | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser on a connection of its own; its rows, or []."""
        with self.connect(database) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description is not None else []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Create a cluster in a fresh temporary directory and start it on a free port."""
        if self._root is not None:
            raise PostgresServerError("already started; stop() it, or start_again() after kill()")
        self._root = self._make_root()
        self._owner_pid = os.getpid()
        _LIVE.add(self)
        try:
            self._initdb()
            self._port = _free_port()
            self.start_again()
        except BaseException:
            self.stop()
            raise

    def kill(self) -> None:
        """Take the server down abruptly, as a crash would: connections cut, no checkpoint."""
        if self._running:
            self._shut_down("immediate")
            self._running = False

    def start_again(self) -> None:
        """Bring the server back on the same port and data after `kill()` (crash recovery runs)."""
        if self._running:
            return
        self._require_root()
        # Marked running before it is known to be, so that stop() cleans up a half-started one.
        self._running = True
        self._pg_ctl_start()
        self._wait_until_ready()

    def restart(self) -> None:
        """`kill()` then `start_again()`: the server vanishes and comes back with its data."""
        self.kill()
        self.start_again()

    def stop(self) -> None:
        """Shut the server down and remove its directory. Safe to call any number of times."""
        root = self._root
        if root is None:
            return
        try:
            if self._running or (root / "data" / "postmaster.pid").exists():
                self._shut_down("fast")
        finally:
            self._running = False
            self._root = None
            _LIVE.discard(self)
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the work ----------------------------------------------------------------------------

    def _require_root(self) -> Path:
        if self._root is None:
            raise PostgresServerError("the server has not been started (or was stopped)")
        return self._root

    def _make_root(self) -> Path:
        root = Path(tempfile.mkdtemp(prefix="gitcops-pg-", dir=_temp_parent(self._account)))
        if self._account is not None:
            os.chown(root, self._account.pw_uid, self._account.pw_gid)
        root.chmod(0o700)
        return root

    def _run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        account = self._account
        return subprocess.run(
            args,
            cwd=self._root,
            env=_server_env(self._require_root()),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            # Root's supplementary groups must not follow the server into its new identity.
            extra_groups=[] if account else None,
        )

    def _tool(self, name: str) -> str:
        return str(self._bin / name)

    def _initdb(self) -> None:
        done = self._run(
            self._tool("initdb"),
            f"--pgdata={self.data_dir}",
            f"--username={_ADMIN}",
            "--encoding=UTF8",
            "--locale=C",
            "--auth-local=trust",
            "--auth-host=trust",
            # Durability is wasted on a cluster that lives for one test session.
            "--no-sync",
            timeout=120,
        )
        if done.returncode != 0:
            raise PostgresServerError(f"initdb failed:\n{done.stdout}{done.stderr}")

    def _server_options(self) -> str:
        options = [
            ("-p", str(self.port)),
            ("-k", str(self._require_root())),
            ("-c", f"listen_addresses={_HOST}"),
            # Safe against a killed server (the OS keeps what was written), not a crashed host.
            ("-c", "fsync=off"),
            ("-c", "full_page_writes=off"),
            # No synchronous_commit=off: it would let kill() lose transactions already reported
            # committed, and tests that crash the server rely on those surviving.
        ]
        return " ".join(f"{flag} {shlex.quote(value)}" for flag, value in options)

    def _pg_ctl_start(self) -> None:
        done = self._run(
            self._tool("pg_ctl"),
            "start",
            "--wait",
            f"--timeout={int(self._ready_timeout)}",
            f"--pgdata={self.data_dir}",
            f"--log={self.log_path}",
            "-o",
            self._server_options(),
            timeout=self._ready_timeout + 30,
        )
        if done.returncode != 0:
            raise PostgresServerError(
                f"pg_ctl start failed:\n{done.stdout}{done.stderr}\n{self._log_tail()}"
            )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._ready_timeout
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise PostgresServerError(
                        f"the server on port {self.port} accepts no connections: {error}\n"
                        f"{self._log_tail()}"
                    ) from error
                time.sleep(0.1)

    def _shut_down(self, mode: str) -> None:
        try:
            done = self._run(
                self._tool("pg_ctl"),
                "stop",
                "--wait",
                f"--mode={mode}",
                f"--pgdata={self.data_dir}",
                timeout=60,
            )
            stopped = done.returncode == 0
        except subprocess.TimeoutExpired:
            stopped = False
        if not stopped:
            self._kill_postmaster()

    def _kill_postmaster(self) -> None:
        # pg_ctl could not stop it (hung, or a stale pid file). Kill the postmaster only if the pid
        # still names a postgres on our data directory; its children exit once it is gone.
        pid_file = self.data_dir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(self.data_dir).encode() in command_line:
                os.kill(pid, signal.SIGKILL)

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, PostgresServerError):
            return "(no server log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"server log ({self.log_path}), last {lines} lines:\n{tail}"


def _stop_all() -> None:
    # Only the process that started a server stops it: a forked child exiting must not take down
    # its parent's server.
    for server in list(_LIVE):
        if server._owner_pid == os.getpid():
            with contextlib.suppress(Exception):
                server.stop()


atexit.register(_stop_all)
