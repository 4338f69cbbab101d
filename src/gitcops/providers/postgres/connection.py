"""Connections to one server, one per database, and what PostgreSQL's errors mean to the engine.

Connection failures, shutdowns, lock timeouts and serialization failures are transient (the
executor retries them); everything else, a refused permission first, is terminal and carries
PostgreSQL's own message. A connection that failed is dropped, so the retry connects afresh.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from gitcops.model.errors import ProviderError, TransientProviderError

T = TypeVar("T")

# SQLSTATE classes and codes worth a retry: connection exceptions (08), insufficient resources
# (53), operator intervention (57: shutdown, cannot connect now), and contention.
_TRANSIENT_CLASSES = ("08", "53", "57")
_TRANSIENT_CODES = frozenset({"40001", "40P01", "55P03", "55006"})
# How libpq words a login the server refused (it gives no SQLSTATE before the session starts).
_REFUSED = (
    "authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "not currently accepting connections",
    "permission denied",
    "password is required",
    "certificate",
)


class _Refused(psycopg.OperationalError):
    """The server answered and refused the login: terminal."""


def settings_to_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """libpq parameters from the instance's settings: `dsn`, overridden by the other keys."""
    params: dict[str, Any] = dict(conninfo_to_dict(str(config["dsn"]))) if "dsn" in config else {}
    for key in ("host", "port", "user", "password", "sslmode"):
        if key in config:
            params[key] = config[key]
    if "database" in config:
        params["dbname"] = config["database"]
    params.setdefault("dbname", "postgres")
    params["connect_timeout"] = config.get("connectTimeout", params.get("connect_timeout", 10))
    return params


def describe(exc: psycopg.Error) -> str:
    """PostgreSQL's message with its detail and hint: never the statement (it may hold a
    password verifier) nor the connection string."""
    diag = exc.diag
    if diag.message_primary:
        parts = [diag.message_primary]
        parts += [f"detail: {diag.message_detail}"] if diag.message_detail else []
        parts += [f"hint: {diag.message_hint}"] if diag.message_hint else []
        return "; ".join(parts)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def classify(exc: psycopg.Error, what: str) -> ProviderError:
    """The engine's error for a psycopg one."""
    code = exc.sqlstate or ""
    message = f"{what}: {describe(exc)}"
    if code[:2] == "28" or isinstance(exc, pgerrors.InsufficientPrivilege | _Refused):
        return ProviderError(message)  # credentials or a permission: retrying will not help
    if code in _TRANSIENT_CODES or code[:2] in _TRANSIENT_CLASSES:
        return TransientProviderError(message)
    if not code and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return TransientProviderError(message)  # no server answer: refused, reset, timed out
    return ProviderError(message)


class Connections:
    """At most one open connection per database, each used by one thread at a time. Nothing
    connects until the first query: `validate` never contacts the server."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self._params = dict(params)
        self.default_database = str(self._params.get("dbname") or "postgres")
        self._open: dict[str, psycopg.Connection[Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def where(self) -> tuple[str, str]:
        """(host, port) as configured: names the server in addresses and messages."""
        host = str(self._params.get("host") or self._params.get("hostaddr") or "localhost")
        return host, str(self._params.get("port") or 5432)

    def _lock(self, database: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(database, threading.Lock())

    def _connect(self, database: str) -> psycopg.Connection[Any]:
        params = {**self._params, "dbname": database}
        params.setdefault("application_name", "gitcops")
        # Timestamps read back in UTC, whatever the server's or the dsn's own options say.
        params["options"] = f"{params.get('options') or ''} -c TimeZone=UTC".strip()
        try:
            return psycopg.connect(make_conninfo(**params), autocommit=True)
        except psycopg.OperationalError as exc:
            # libpq reports a refused login without a SQLSTATE: tell it from an outage by its
            # words, so a wrong password is reported at once rather than retried.
            text = str(exc)
            if any(words in text for words in _REFUSED):
                raise _Refused(text) from exc
            raise

    def run(
        self, database: str | None, what: str, work: Callable[[psycopg.Connection[Any]], T]
    ) -> T:
        """`work` on the database's connection; psycopg's errors become the engine's."""
        name = database or self.default_database
        with self._lock(name):
            conn = self._open.get(name)
            reused = conn is not None and not conn.closed
            try:
                if conn is None or conn.closed:
                    conn = self._connect(name)
                    self._open[name] = conn
                return work(conn)
            except psycopg.Error as exc:
                if conn is not None and (conn.broken or conn.closed or _is_transient(exc)):
                    self._drop(name)
                if not (reused and conn is not None and conn.broken):
                    raise classify(exc, what) from None
            # A kept connection the server closed since (a restart, an idle timeout): the
            # statement did not complete: once more, on a new connection.
            try:
                conn = self._connect(name)
                self._open[name] = conn
                return work(conn)
            except psycopg.Error as exc:
                if conn.broken or _is_transient(exc):
                    self._drop(name)
                raise classify(exc, what) from None

    def _drop(self, name: str) -> None:
        conn = self._open.pop(name, None)
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def forget(self, database: str) -> None:
        """Close the connection to a database about to be dropped or renamed."""
        with self._lock(database):
            self._drop(database)

    def close(self) -> None:
        for name in list(self._open):
            self.forget(name)


def _is_transient(exc: psycopg.Error) -> bool:
    return isinstance(classify(exc, ""), TransientProviderError)
