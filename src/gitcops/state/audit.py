"""The audit log's hash chain: each entry commits to its content and to the entry before it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from gitcops.model.canonical import canonical_json
from gitcops.state.records import AuditEntry, AuditHead, AuditVerdict

GENESIS = "0" * 64


def entry_hash(
    prev_hash: str,
    seq: int,
    ts: float,
    scope: str,
    run_id: int | None,
    actor: str,
    action: str,
    subject: str,
    detail: dict[str, Any],
) -> str:
    body = canonical_json([seq, repr(ts), scope, run_id, actor, action, subject, detail])
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def verify_chain(entries: Iterable[AuditEntry], head: AuditHead | None = None) -> AuditVerdict:
    """Recompute the chain, oldest entry first. With `head` (kept elsewhere when it was the
    newest entry), the log must also still hold that entry with that hash: the chain alone
    cannot show that entries were cut off its end, or that it was rewritten whole."""
    prev = GENESIS
    expected_seq = None
    count = 0
    last: AuditHead | None = None
    for entry in entries:
        count += 1
        if expected_seq is not None and entry.seq != expected_seq:
            return AuditVerdict(False, count, entry.seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev:
            return AuditVerdict(False, count, entry.seq, "does not link to the entry before it")
        recomputed = entry_hash(
            entry.prev_hash,
            entry.seq,
            entry.ts,
            entry.scope,
            entry.run_id,
            entry.actor,
            entry.action,
            entry.subject,
            entry.detail,
        )
        if recomputed != entry.hash:
            return AuditVerdict(False, count, entry.seq, "content does not match its hash")
        if head is not None and entry.seq == head.seq and entry.hash != head.hash:
            return AuditVerdict(False, count, entry.seq, "does not match the head given")
        prev = entry.hash
        expected_seq = entry.seq + 1
        last = AuditHead(entry.seq, entry.hash)
    if head is not None and (last is None or last.seq < head.seq):
        ends = f"ends at entry {last.seq}" if last is not None else "is empty"
        problem = f"entry {head.seq} (the head given) is missing: the log {ends}"
        return AuditVerdict(False, count, head.seq, problem)
    return AuditVerdict(True, count, head=last)
