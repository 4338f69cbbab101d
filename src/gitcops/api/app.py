"""The HTTP application (webhooks, /metrics, /healthz, /readyz) and a server to run it in a
background thread of the agent's process.

    app = create_app(hooks, metrics, secret)        # hooks: the agent's AgentHooks
    server = serve(app, "127.0.0.1", 8080)          # returns once it is listening
    ...
    server.stop(timeout=10)

The REST API and web UI will extend the same application.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

import uvicorn
from anyio import to_thread
from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from gitcops import __version__
from gitcops.api.hooks import AgentHooks
from gitcops.api.metrics import AgentMetrics
from gitcops.api.webhooks import (
    DEFAULT_MAX_BODY,
    FORGES,
    HEADERS,
    NO_SECRET,
    STATUS,
    BodyTooLargeError,
    Delivery,
    Forge,
    Ignored,
    Outcome,
    Push,
    Rejected,
    Verdict,
    declared_too_large,
    judge,
    read_body,
)

log = logging.getLogger("gitcops.api")

DEFAULT_LISTEN = "127.0.0.1:8080"


def create_app(
    hooks: AgentHooks,
    metrics: AgentMetrics,
    secret: bytes | None,
    *,
    max_body: int = DEFAULT_MAX_BODY,
) -> FastAPI:
    """The application: `POST /hooks/github|gitlab|gitea`, `GET /metrics`, `/healthz`, `/readyz`.

    Without a secret every webhook is refused (503, saying so): never accepted unsigned.
    Bodies over `max_body` bytes are refused (413) before they are read, or as soon as the
    count passes it. Every request the webhook endpoints refuse is logged (logger
    `gitcops.api`) with the forge, the outcome and the remote address; never the body, a
    signature or the secret."""
    if secret is not None and not secret:
        raise ValueError("the webhook secret is empty: anyone could sign with it")
    if max_body < 0:
        raise ValueError(f"max_body must be 0 or more, not {max_body}")
    app = FastAPI(
        title="gitcops agent",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    for forge in FORGES:
        app.add_api_route(
            f"/hooks/{forge}",
            _receiver(forge, hooks, metrics, secret, max_body),
            methods=["POST"],
            name=f"hooks_{forge}",
        )

    async def metrics_endpoint() -> Response:
        body = await to_thread.run_sync(metrics.exposition)
        return Response(body, media_type=metrics.content_type)

    async def healthz() -> Response:
        try:
            status = await to_thread.run_sync(hooks.health, abandon_on_cancel=True)
            return JSONResponse(dict(status))
        except Exception:
            log.exception("/healthz: the agent's health hook failed")
            return JSONResponse({"status": "error"}, status_code=500)

    async def readyz() -> Response:
        try:
            ready = bool(await to_thread.run_sync(hooks.ready, abandon_on_cancel=True))
        except Exception:
            log.exception("/readyz: the agent's ready hook failed")
            ready = False
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], name="metrics")
    app.add_api_route("/healthz", healthz, methods=["GET"], name="healthz")
    app.add_api_route("/readyz", readyz, methods=["GET"], name="readyz")
    return app


def _remote(request: Request) -> str:
    if request.client is None:
        return "unknown"
    host, port = request.client.host, request.client.port
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _receiver(
    forge: Forge, hooks: AgentHooks, metrics: AgentMetrics, secret: bytes | None, max_body: int
) -> Callable[[Request], Awaitable[Response]]:
    names = HEADERS[forge]

    async def verdict_on(request: Request) -> Verdict:
        if secret is None:
            return NO_SECRET  # refused before a byte of the body is read
        too_large = Rejected(Outcome.TOO_LARGE, f"the body is larger than {max_body} bytes")
        if declared_too_large(request.headers.get("content-length"), max_body):
            return too_large  # not a byte of it read
        try:
            body = await read_body(request.stream(), max_body)
        except BodyTooLargeError:
            return too_large
        except ClientDisconnect:
            return Rejected(Outcome.BAD_PAYLOAD, "the client went away before the body ended")
        delivery = Delivery(
            forge=forge,
            event=request.headers.get(names.event),
            signature=request.headers.get(names.signature),
            body=body,
            content_type=request.headers.get("content-type"),
        )
        # HMAC and JSON over up to max_body bytes: off the event loop.
        return await to_thread.run_sync(judge, delivery, secret)

    async def receive(request: Request) -> Response:
        remote = _remote(request)
        verdict = await verdict_on(request)
        if isinstance(verdict, Rejected):
            outcome, detail = verdict.outcome, verdict.detail
            log.warning("webhook %s from %s refused: %s (%s)", forge, remote, outcome, detail)
        elif isinstance(verdict, Ignored):
            outcome, detail = verdict.outcome, verdict.detail
            log.info("webhook %s from %s ignored: %s (%s)", forge, remote, outcome, detail)
        else:
            outcome, detail = await _push(verdict, remote)
        metrics.webhook(forge, outcome)
        return JSONResponse({"outcome": outcome.value, "detail": detail}, STATUS[outcome])

    async def _push(push: Push, remote: str) -> tuple[Outcome, str]:
        what = f"push to {push.branch!r} ({push.commit or 'no commit id'}"
        what += f", {push.repository})" if push.repository else ")"
        try:
            triggered = await to_thread.run_sync(
                hooks.push, forge, push.branch, push.commit, abandon_on_cancel=True
            )
        except Exception:
            log.exception(
                "webhook %s from %s: the agent's push hook failed on a %s", forge, remote, what
            )
            return Outcome.ERROR, "the agent could not record the push"
        if triggered:
            log.info("webhook %s from %s: %s: reconcile triggered", forge, remote, what)
            return Outcome.TRIGGERED, f"{what}: reconcile triggered"
        log.info("webhook %s from %s: %s: not the watched branch", forge, remote, what)
        return Outcome.OTHER_BRANCH, f"{what}: not the watched branch"

    return receive


# --- serving it --------------------------------------------------------------------------------


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (`--listen`) as (host, port): `127.0.0.1:8080`, `[::1]:8080`, `:8080` (every
    interface), `localhost:0` (a free port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen {value!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"--listen {value!r}: write an IPv6 address in brackets, [::1]:8080")
    return host, int(port)


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class Server:
    """An HTTP server running in a background thread of this process (see `serve`)."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, address: tuple[str, int]):
        self._server = server
        self._thread = thread
        self.host, self.port = address

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop serving: no new connections; requests in flight get half of `timeout` to finish,
        then are cancelled. True if the server's thread ended within `timeout`."""
        if not self._thread.is_alive():
            return True
        deadline = time.monotonic() + timeout
        self._server.config.timeout_graceful_shutdown = max(int(timeout / 2), 0)
        self._server.should_exit = True
        self._thread.join(timeout * 0.8)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(max(deadline - time.monotonic(), 0))
        return not self._thread.is_alive()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    max_connections: int = 100,
    startup_timeout: float = 10.0,
) -> Server:
    """Run `app` with uvicorn in a background (daemon) thread, listening on host:port (port 0:
    a free one, see `Server.port`). The socket is bound here, so an address in use raises
    OSError at once; returns once the server accepts requests. uvicorn installs no signal
    handlers outside the main thread: the agent keeps its own. Logging is left as the agent
    configured it; no access log. Past `max_connections` open connections, new requests get
    503 at once (with the body limit, this bounds the memory a flood of requests can take)."""
    sock = _bind(host, port)
    address = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        http="h11",
        ws="none",
        loop="asyncio",
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        limit_concurrency=max_connections,
    )
    server = uvicorn.Server(config)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as e:  # SystemExit included: uvicorn exits on a failed startup
            failed.append(e)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"gitcops-http-{address[1]}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the HTTP server stopped while starting") from (
                failed[0] if failed else None
            )
        if time.monotonic() > deadline:
            Server(server, thread, address).stop(1.0)
            raise TimeoutError(f"the HTTP server did not start within {startup_timeout} s")
        time.sleep(0.01)
    return Server(server, thread, address)
