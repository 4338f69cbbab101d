"""A real HTTP server on a free loopback port that plays a script per path (statuses, headers,
hanging, dropping the connection) and records every request."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

HANG = "hang"  # hold the request until the test releases it (or 60 s), then answer 200
DROP = "drop"  # close the connection without an answer
Behaviour = int | tuple[int, dict[str, str]] | str

# Generous: only a broken test ever waits this long.
PATIENCE = 60.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HookServer:
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    scripts: dict[str, deque[Behaviour]] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def respond(self, path: str, *behaviours: Behaviour) -> str:
        """Answer requests to `path` with these behaviours in turn (then 200); its URL."""
        self.scripts[path] = deque(behaviours)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int) -> list[Recorded]:
        with self.changed:
            arrived = self.changed.wait_for(lambda: len(self.requests) >= count, PATIENCE)
            assert arrived, f"{len(self.requests)} requests arrived, {count} expected"
            return list(self.requests)

    def record(self, request: Recorded) -> Behaviour:
        with self.changed:
            self.requests.append(request)
            self.changed.notify_all()
            script = self.scripts.get(request.path.split("?")[0]) or self.scripts.get(request.path)
            return script.popleft() if script else 200


def _handler(server: HookServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            recorded = Recorded(self.path, dict(self.headers.items()), body, time.monotonic())
            behaviour = server.record(recorded)
            if behaviour == DROP:
                self.close_connection = True
                self.connection.close()
                return
            if behaviour == HANG:
                server.release.wait(PATIENCE)
                behaviour = 200
            status, headers = behaviour if isinstance(behaviour, tuple) else (behaviour, {})
            assert isinstance(status, int)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the client gave up (a timeout)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the path may hold the test's token: keep stderr clean

    return Handler


@pytest.fixture
def hooks() -> Iterator[HookServer]:
    server = HookServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(PATIENCE)


def eventually(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds (a worker thread's doing), failing after PATIENCE."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)
