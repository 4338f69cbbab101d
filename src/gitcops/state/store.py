"""The state store interface; SQLite implements it here, PostgreSQL can implement it too."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from gitcops.model.identity import ResourceId
from gitcops.state.records import (
    AuditEntry,
    AuditEvent,
    AuditHead,
    AuditVerdict,
    EnvControl,
    EnvStatus,
    InventoryEntry,
    ReconcileRecord,
    RunRecord,
)


class StateStore(Protocol):
    """Every method is one transaction: it happens whole or not at all."""

    def lock(self, scope: str, timeout: float = 0.0) -> AbstractContextManager[None]:
        """Hold the scope's apply lock; raise LockedError after `timeout` seconds."""
        ...

    def env_status(self, scope: str) -> EnvStatus | None: ...

    def all_env_status(self) -> list[EnvStatus]: ...

    def inventory(self, scope: str) -> dict[ResourceId, InventoryEntry]: ...

    def begin_run(
        self,
        scope: str,
        *,
        kind: str,
        revision: str,
        trigger: str,
        actor: str,
        pending: Sequence[InventoryEntry],
    ) -> int: ...

    def record_results(
        self,
        scope: str,
        run_id: int,
        *,
        actor: str,
        applied: Sequence[InventoryEntry],
        removed: Sequence[ResourceId],
        events: Sequence[AuditEvent],
    ) -> None: ...

    def finish_run(
        self,
        scope: str,
        run_id: int,
        *,
        actor: str,
        status: str,
        summary: dict[str, Any],
        results: list[dict[str, Any]],
        warnings: list[str],
        healthy: bool | None,
    ) -> None: ...

    def runs(self, scope: str | None = None, limit: int = 20) -> list[RunRecord]: ...

    def run(self, run_id: int) -> RunRecord | None: ...

    def audit(self, scope: str | None = None) -> Iterator[AuditEntry]: ...

    def append_audit(
        self, scope: str, run_id: int | None, actor: str, event: AuditEvent, *more: AuditEvent
    ) -> None:
        """Extend the chain by `event` (and `more`), in one transaction."""
        ...

    def audit_head(self) -> AuditHead | None:
        """The newest audit entry's sequence number and hash; None while the log is empty."""
        ...

    def verify_audit(self, head: AuditHead | None = None) -> AuditVerdict:
        """Recompute the chain; with `head`, the log must also still hold that entry, with
        that hash."""
        ...

    def control(self, scope: str) -> EnvControl:
        """Suspension, pin and bad revisions of an environment (defaults when none)."""
        ...

    def set_suspended(
        self, scope: str, suspended: bool, *, actor: str, reason: str = ""
    ) -> None: ...

    def pin(self, scope: str, revision: str, *, actor: str, until_newer_than: str = "") -> None: ...

    def unpin(self, scope: str, *, actor: str, reason: str = "") -> None: ...

    def mark_bad(self, scope: str, revision: str, *, actor: str, reason: str) -> None: ...

    def record_reconcile(self, record: ReconcileRecord) -> None: ...

    def last_reconcile(self, scope: str) -> ReconcileRecord | None: ...

    def redaction_key(self) -> bytes:
        """The installation's key for hashing sensitive values (created on first use)."""
        ...

    def close(self) -> None: ...
