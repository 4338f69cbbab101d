"""What the state store holds, as plain typed records."""

import json
from typing import Any, NamedTuple

from gitcops.model.identity import ResourceId
from gitcops.model.sensitive import FieldPath, may_hold_tokens, token_paths


class InventoryEntry(NamedTuple):
    """The spec is kept as canonical JSON and parsed on demand: a no-op plan never needs it.

    A NamedTuple because a plan loads one per managed object (tens of thousands).
    """

    id: ResourceId
    api_version: str
    spec_json: str
    spec_hash: str
    depends_on: tuple[ResourceId, ...] = ()
    address: str | None = None
    status: str = "applied"  # "pending": a run started creating it and may have died first
    revision: str = ""
    run_id: int = 0
    prune: bool = True  # False: its document said gitcops.io/prune: disabled
    instance: str = ""  # the provider instance that manages it ("": its type's)
    state_json: str = ""  # what the system assigned when it was written (JSON); "": nothing

    @property
    def spec(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.spec_json)
        return value

    @property
    def provider(self) -> str:
        """The provider instance that manages it (its type's when not named)."""
        return self.instance or self.id.provider

    @property
    def state(self) -> dict[str, Any] | None:
        if not self.state_json:
            return None
        value: dict[str, Any] = json.loads(self.state_json)
        return value

    @property
    def sensitive(self) -> tuple[FieldPath, ...]:
        """The fields that held secrets when applied (stored as tokens); most specs hold none,
        and a glance at the text spares parsing them."""
        if not may_hold_tokens(self.spec_json):
            return ()
        return tuple(token_paths(self.spec))


class EnvStatus(NamedTuple):
    scope: str
    applied_revision: str
    attempted_revision: str
    serial: int
    last_run_id: int
    last_run_status: str
    healthy: bool | None
    updated_at: float
    resources: int = 0


class RunRecord(NamedTuple):
    id: int
    scope: str
    kind: str  # apply | rollback | drift
    revision: str
    trigger: str  # cli | agent | webhook | schedule
    actor: str
    started_at: float
    finished_at: float | None
    status: str  # running | succeeded | failed | interrupted
    summary: dict[str, Any]  # no defaults: a NamedTuple's would be shared
    results: list[dict[str, Any]]
    warnings: list[str]


class AuditEvent(NamedTuple):
    action: str  # run.started, resource.created, resource.configured, ...
    subject: str  # a resource id, an environment
    detail: dict[str, Any] = {}  # shared by the events made without one: never mutated


class AuditEntry(NamedTuple):
    seq: int
    ts: float
    scope: str
    run_id: int | None
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditHead(NamedTuple):
    """The newest entry of the audit chain, `SEQ:HASH` as text. Kept elsewhere (a
    notification, a metric, a log shipper), it lets `audit verify --head` show that the log
    still reaches that entry unchanged: entries cut off its end are caught too."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> "AuditHead":
        """`SEQ:HASH` (a positive sequence number, a SHA-256 in hex); ValueError otherwise."""
        seq, sep, digest = text.strip().partition(":")
        digest = digest.lower()
        valid_hash = len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
        if not (sep and seq.isascii() and seq.isdigit() and int(seq) >= 1 and valid_hash):
            raise ValueError(
                f"{text!r} is not SEQ:HASH (a sequence number from 1, a colon, and the "
                "entry's 64-digit SHA-256 in hex)"
            )
        return cls(int(seq), digest)

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}


class AuditVerdict(NamedTuple):
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""
    head: AuditHead | None = None  # the newest entry, when `ok` and the log is not empty


class EnvControl(NamedTuple):
    """What people decided about an environment, beyond Git: suspended (not reconciled),
    pinned to a revision (a rollback by hand holds until unpinned, or until the branch moves
    past `pinned_head` when pinned with --until-newer), and the revisions marked bad (their
    verification failed: the agent never tries them again)."""

    scope: str
    suspended: bool = False
    suspended_reason: str = ""
    pin: str = ""  # a commit; "" when not pinned
    pinned_head: str = ""  # the branch head when pinned --until-newer; "" otherwise
    bad: tuple[str, ...] = ()  # commits, oldest first


class ReconcileRecord(NamedTuple):
    """The agent's last reconcile of an environment: what it did and why."""

    scope: str
    at: float
    outcome: str  # applied | unchanged | healed | drifted | rolledBack | failed | skipped
    reason: str
    revision: str
    fetched_at: float | None = None  # the last successful fetch of the source
    source_error: str = ""  # why the last fetch failed; "" when it did not
