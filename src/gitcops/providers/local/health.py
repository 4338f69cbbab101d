"""HealthCheck probes: HTTP status, TCP connect, or a command's exit status; with retries."""

from __future__ import annotations

import base64
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitcops.providers.base import CheckResponse

Probe = Callable[[float], tuple[bool, str]]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A check may expect a 3xx itself, so redirects arrive as HTTPError with their code."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _shown(url: str) -> str:
    """The URL as messages, run records and the audit log show it: no credentials, no query
    (tokens travel in both)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = "***@" + netloc
    return urllib.parse.urlunsplit(
        parts._replace(netloc=netloc, query="..." if parts.query else "", fragment="")
    )


def _request(url: str) -> urllib.request.Request:
    """urllib ignores user:password in a URL: send them as HTTP basic credentials instead."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return urllib.request.Request(url)  # noqa: S310 - the schema admits http(s) only
    bare = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    headers = {"Authorization": f"Basic {token}"}
    return urllib.request.Request(bare, headers=headers)  # noqa: S310 - http(s) only


def _http(spec: dict[str, Any]) -> Probe:
    url = str(spec["url"])
    shown = _shown(url)
    expect = int(spec.get("expectStatus", 200))

    def probe(timeout: float) -> tuple[bool, str]:
        try:
            with _OPENER.open(_request(url), timeout=timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            return False, f"GET {shown}: {getattr(exc, 'reason', exc)}"
        if status == expect:
            return True, f"GET {shown}: {status}"
        return False, f"GET {shown}: status {status}, expected {expect}"

    return probe


def _tcp(spec: dict[str, Any]) -> Probe:
    host = str(spec.get("host", "127.0.0.1"))
    port = int(spec["port"])

    def probe(timeout: float) -> tuple[bool, str]:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True, f"tcp {host}:{port}: connected"
        except OSError as exc:
            return False, f"tcp {host}:{port}: {exc.strerror or exc}"

    return probe


def _command(spec: dict[str, Any], cwd: Path) -> Probe:
    argv = [str(a) for a in spec["argv"]]

    def probe(timeout: float) -> tuple[bool, str]:
        try:
            done = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return False, f"command {argv[0]}: timed out after {timeout:g}s"
        except OSError as exc:
            return False, f"command {argv[0]}: {exc.strerror or exc}"
        if done.returncode == 0:
            return True, f"command {argv[0]}: exit 0"
        return False, f"command {argv[0]}: exit {done.returncode}"

    return probe


def run_check(spec: dict[str, Any], cwd: Path) -> CheckResponse:
    if "http" in spec:
        probe = _http(spec["http"])
    elif "tcp" in spec:
        probe = _tcp(spec["tcp"])
    else:
        probe = _command(spec["command"], cwd)
    timeout = float(spec.get("timeoutSeconds", 5))
    attempts = int(spec.get("retries", 0)) + 1
    interval = float(spec.get("intervalSeconds", 1))
    message = ""
    for attempt in range(1, attempts + 1):
        healthy, message = probe(timeout)
        if healthy:
            return CheckResponse(True, message, attempt)
        if attempt < attempts:
            time.sleep(interval)
    return CheckResponse(False, message, attempts)
