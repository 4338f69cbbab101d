"""An in-memory Provider for executor tests: thread-safe, records call order and concurrency."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

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
    PrepareRequest,
    ReadRequest,
    ReadResponse,
    Spec,
    UpdateRequest,
    ValidateRequest,
    ValidateResponse,
    WriteResponse,
)

GROUP = "fake.gitcops.io"


@dataclass(frozen=True)
class Call:
    op: str
    id: ResourceId
    start: int  # ticks of the provider's clock, shared with `tick()` for callbacks
    end: int
    ok: bool


@dataclass
class FakeProvider:
    """Writes go to `objects`; `fail` ids always fail, `transient` ids fail that many times first.

    `gate`, when set, makes the first `gate.parties` calls wait for each other: proof that that
    many calls really ran at the same time.
    """

    fail: Collection[ResourceId] = ()
    transient: Mapping[ResourceId, int] = field(default_factory=dict)
    errors: Mapping[ResourceId, BaseException] = field(default_factory=dict)
    delay: float = 0.0
    gate: threading.Barrier | None = None
    name: str = "fake"
    objects: dict[ResourceId, Spec] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    attempts: Counter[ResourceId] = field(default_factory=Counter)
    max_in_flight: int = 0
    _in_flight: int = 0
    _clock: int = 0
    _gated: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self) -> int:
        with self._lock:
            self._clock += 1
            return self._clock

    # -- the Provider protocol ------------------------------------------------------------------

    def kinds(self) -> Mapping[str, KindInfo]:
        return {"Thing": KindInfo("Thing", {"type": "object"})}

    def prepare(self, request: PrepareRequest) -> Spec:
        return dict(request.spec)

    def validate(self, request: ValidateRequest) -> ValidateResponse:
        return ValidateResponse()

    def address(self, id: ResourceId, spec: Spec) -> str | None:
        return None

    def implicit_edges(self, resources: Sequence[Declared]) -> list[Edge]:
        return []

    def read(self, request: ReadRequest) -> ReadResponse:
        with self._lock:
            return ReadResponse(self.objects.get(request.id))

    def create(self, request: CreateRequest) -> WriteResponse:
        return self._write("create", request.id, request.spec)

    def update(self, request: UpdateRequest) -> WriteResponse:
        return self._write("update", request.id, request.spec)

    def delete(self, request: DeleteRequest) -> WriteResponse:
        return self._write("delete", request.id, None)

    # -- the recording core ---------------------------------------------------------------------

    def _enter(self, rid: ResourceId) -> tuple[int, int, bool]:
        with self._lock:
            self._clock += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self.attempts[rid] += 1
            gated = self.gate is not None and self._gated < self.gate.parties
            if gated:
                self._gated += 1
            return self._clock, self.attempts[rid], gated

    def _write(self, op: str, rid: ResourceId, spec: Spec | None) -> WriteResponse:
        start, attempt, gated = self._enter(rid)
        ok = False
        try:
            if gated:
                assert self.gate is not None
                try:
                    self.gate.wait(timeout=30)
                except threading.BrokenBarrierError as exc:
                    raise ProviderError("fewer calls ran at once than the gate expects") from exc
            if self.delay:
                time.sleep(self.delay)
            if rid in self.errors:
                raise self.errors[rid]
            if rid in self.fail:
                raise ProviderError(f"{op} {rid.name}: refused")
            if attempt <= self.transient.get(rid, 0):
                raise TransientProviderError(f"{op} {rid.name}: busy (attempt {attempt})")
            with self._lock:
                if spec is None:
                    self.objects.pop(rid, None)
                else:
                    self.objects[rid] = spec
            ok = True
            return WriteResponse(f"{op}d {rid.name}")
        finally:
            with self._lock:
                self._in_flight -= 1
                self._clock += 1
                self.calls.append(Call(op, rid, start, self._clock, ok))

    # -- views ----------------------------------------------------------------------------------

    def called(self) -> list[ResourceId]:
        """Ids in the order their calls started."""
        return [c.id for c in sorted(self.calls, key=lambda c: c.start)]


@dataclass
class FakeChecker(FakeProvider):
    """A provider that can also run health checks: spec {"healthy": bool, "attempts": int}."""

    def check(self, request: CheckRequest) -> CheckResponse:
        start, _, _ = self._enter(request.id)
        healthy = bool(request.spec.get("healthy", True))
        with self._lock:
            self._in_flight -= 1
            self._clock += 1
            self.calls.append(Call("check", request.id, start, self._clock, healthy))
        return CheckResponse(
            healthy,
            "up" if healthy else "connection refused",
            int(request.spec.get("attempts", 1)),
        )


@dataclass
class FakeStager(FakeChecker):
    """A Staging provider: while staging is on, writes wait in `pending` until commit().

    `commit_fail` ids fail at commit; `commits` lists each commit's ids; `write_threads` the
    threads writes ran on."""

    commit_fail: Collection[ResourceId] = ()
    staging: bool = False
    stage_calls: list[bool] = field(default_factory=list)
    pending: dict[ResourceId, Spec | None] = field(default_factory=dict)
    commits: list[list[ResourceId]] = field(default_factory=list)
    commit_ticks: dict[ResourceId, int] = field(default_factory=dict)
    write_threads: set[int] = field(default_factory=set)

    def stage(self, on: bool) -> None:
        self.stage_calls.append(on)
        self.staging = on
        self.pending.clear()

    def commit(self) -> dict[ResourceId, str]:
        pending, self.pending = self.pending, {}
        self.commits.append(list(pending))
        tick = self.tick()
        failures = {}
        for rid, spec in pending.items():
            if rid in self.commit_fail:
                failures[rid] = f"commit {rid.name}: refused"
                continue
            self.commit_ticks[rid] = tick
            self.objects[rid] = spec  # type: ignore[assignment]
        return failures

    def _write(self, op: str, rid: ResourceId, spec: Spec | None) -> WriteResponse:
        self.write_threads.add(threading.get_ident())
        if not self.staging or spec is None:
            return super()._write(op, rid, spec)
        response = super()._write(op, rid, spec)
        self.pending[rid] = self.objects.pop(rid)  # not visible before commit()
        return response._replace(staged=True)
