"""Approvals and signed commits, checked where it matters: before an apply writes anything.

An approval is an SSH signature over {project, environment, digest of the environment's
rendered desired state}, kept in Git under refs/notes/gitcops-approvals. The rules and keys
that count are those of the revision the environment last applied (the trust root), never
those of the revision being checked: a change to the approvers is approved by the current
ones. On first use the trust root is a local project file (GITCOPS_TRUST) when one is given,
else the checked revision itself (trust on first use).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import Workspace, desired_state, project_of, tree_at
from gitcops.model.canonical import canonical_json
from gitcops.model.errors import GitcopsError
from gitcops.model.project import Environment, Project
from gitcops.source.tree import SourceTree
from gitcops.state.records import AuditEvent
from gitcops.state.store import StateStore

TRUST_ENV = "GITCOPS_TRUST"


class ApprovalRequiredError(GitcopsError):
    """The revision needs approvals it does not have: nothing was written."""


class UnsignedCommitError(GitcopsError):
    """The environment applies only commits signed by allowed signers."""


def rendered_digest(ws: Workspace) -> str:
    """What an approval binds to: everything that decides what the environment runs and how
    it is gated. Every rendered resource (its annotations and provider instance included), the
    environment's provider settings, drift settings, rules (approvals, promotion, signing,
    policy settings), the allowed-signers files, the policies, and the encrypted SOPS files
    (a rotated secret changes the digest; no plaintext goes into it, so it tells nothing
    about a secret)."""
    from gitcops.engine.policy_check import policy_files
    from gitcops.engine.risk import rules_of
    from gitcops.source.tree import read_if_present, walk_files

    env, tree = ws.environment, ws.tree

    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def file_hash(path: str | None) -> str | None:
        if path is None:
            return None
        data = read_if_present(tree, path)
        return sha(data) if data is not None else "missing"

    items = sorted(desired_state(ws), key=lambda i: str(i.resource.id))
    body = {
        "project": ws.project.name,
        "environment": env.name,
        "providers": {
            name: ws.project.provider_config(env, name)
            for name in sorted(ws.project.provider_names(env))
        },
        "drift": [env.drift.value, [repr(r) for r in ws.project.ignore_rules(env)]],
        "rules": repr(sorted(rules_of(ws.project, env).items())),
        "signers": [
            file_hash(env.approvals.allowed_signers),
            file_hash(env.signed_commits.allowed_signers) if env.signed_commits else None,
        ],
        "policies": [[path, sha(text.encode())] for path, text in policy_files(tree, [])],
        "secrets": [
            [path, file_hash(path)]
            for path in sorted(walk_files(tree))
            if ".sops." in path.rsplit("/", 1)[-1]
        ],
        "resources": [[i.resource.instance, i.public_document()] for i in items],
    }
    return sha(canonical_json(body).encode())


class TrustRoot(NamedTuple):
    """Where the rules that count come from."""

    environment: Environment
    tree: SourceTree | None  # files named by the rules (allowed signers) are read here
    base: Path | None  # ... or relative to this local directory (a trust file)
    origin: str  # "applied revision 3f2a…", "trust file …", "this revision (first use)"
    revision: str | None = None  # the trusted revision, when it is one
    project: Project | None = None  # the trusted project (None: the checked revision's)

    def read(self, path: str) -> bytes:
        if self.tree is not None:
            return self.tree.read(path)
        assert self.base is not None
        return (self.base / path).read_bytes()


def trust_root(ws: Workspace, store: StateStore) -> TrustRoot:
    """The environment's last applied revision; else the newest revision another environment
    of the project applied (an environment it does not define gets the strictest rules it
    has); else the GITCOPS_TRUST file; else, with nothing of the project ever applied, the
    revision itself (trust on first use)."""
    status = store.env_status(ws.scope)
    if status is not None and status.applied_revision:
        return _from_revision(ws, status.applied_revision, "the applied revision")
    prefix = f"{ws.project.name}/"
    siblings = [
        s
        for s in store.all_env_status()
        if s.scope.startswith(prefix) and s.applied_revision and s.scope != ws.scope
    ]
    if siblings:
        newest = max(siblings, key=lambda s: s.updated_at)
        return _from_revision(ws, newest.applied_revision, f"the revision {newest.scope} applied")
    trust = os.environ.get(TRUST_ENV)
    if trust:
        from gitcops.render.pipeline import parse_project

        path = Path(trust).expanduser()
        try:
            project = parse_project(path.read_bytes())
        except OSError as exc:
            raise GitcopsError(f"{TRUST_ENV}={trust}: cannot read the trust file: {exc}") from None
        if project.name != ws.project.name:
            raise GitcopsError(
                f"{TRUST_ENV}={trust} is for project {project.name!r}, not {ws.project.name!r}"
            )
        return TrustRoot(
            trusted_environment(project, ws.environment.name),
            None,
            path.parent,
            f"trust file {path}",
            None,
            project,
        )
    return TrustRoot(ws.environment, ws.tree, None, "this revision (first use)")


def _from_revision(ws: Workspace, revision: str, what: str) -> TrustRoot:
    _, tree = tree_at(ws.source, revision)
    project = project_of(ws.runtime, tree)
    return TrustRoot(
        trusted_environment(project, ws.environment.name),
        tree,
        None,
        f"{what} {revision[:12]}",
        revision,
        project,
    )


def trusted_environment(project: Project, name: str) -> Environment:
    """The trusted rules for `name`: its own, or, for an environment the trusted revision does
    not define (one a change adds), those of its strictest gated environment."""
    try:
        return project.environment(name)
    except GitcopsError:
        gated = [e for e in project.spec.environments if e.approvals.gated or e.signed_commits]
        if not gated:
            return Environment(name, "", {})
        strictest = max(gated, key=lambda e: (e.approvals.required, e.signed_commits is not None))
        return strictest._replace(name=name, promotion=None)


@contextmanager
def _allowed_signers(root: TrustRoot, path: str | None) -> Iterator[Path | None]:
    if path is None:
        yield None
        return
    try:
        data = root.read(path)
    except (OSError, GitcopsError, KeyError) as exc:
        raise GitcopsError(f"allowed signers {path} (from {root.origin}): {exc}") from None
    with tempfile.TemporaryDirectory(prefix="gitcops-signers-") as folder:
        target = Path(folder) / "allowed_signers"
        target.write_bytes(data)
        yield target


class ApprovalStatus(NamedTuple):
    """An approval as checked: `approver` when it counts, else `problem` says why not."""

    approver: str | None
    problem: str
    revision: str
    created_at: float
    digest: str

    def as_json(self) -> dict[str, Any]:
        return {
            "approver": self.approver,
            "valid": self.approver is not None and not self.problem,
            "problem": self.problem or None,
            "revision": self.revision,
            "createdAt": self.created_at,
            "digest": self.digest,
        }


class ApprovalVerdict(NamedTuple):
    required: int
    approvers: tuple[str, ...]  # the distinct approvers whose approvals count
    checked: tuple[ApprovalStatus, ...]
    digest: str
    origin: str
    signers_missing: bool = False  # approvals are needed, but no file says whose keys count

    @property
    def satisfied(self) -> bool:
        return len(self.approvers) >= self.required


def check_approvals(
    ws: Workspace,
    store: StateStore,
    risk: int,
    minimum: int = 0,
    root: TrustRoot | None = None,
) -> ApprovalVerdict:
    """Every approval of this environment's rendered state, verified against the trust root.
    `minimum`: approvals needed whatever the rules say (an override of promotion)."""
    from gitcops.approvals import ssh
    from gitcops.approvals import store as notes

    root = root or trust_root(ws, store)
    rules = root.environment.approvals
    required = max(rules.needed(risk), minimum)
    if required == 0:
        return ApprovalVerdict(0, (), (), "", root.origin)
    digest = rendered_digest(ws)
    authors = _writers(ws, root.revision)
    found, _ = notes.load_all(ws.source.git_dir)
    checked: list[ApprovalStatus] = []
    with _allowed_signers(root, rules.allowed_signers) as signers:
        for approval in found:
            payload = approval.payload
            if (payload.project, payload.environment) != (ws.project.name, ws.environment.name):
                continue
            if payload.digest != digest:
                continue  # of another rendered state: never counts for this one
            who = ssh.verify(payload.canonical(), approval.signature, signers) if signers else None
            problem = ""
            if who is None:
                problem = "the signature does not verify with the allowed signers"
            elif rules.approvers and who not in rules.approvers:
                problem = f"{who} is not an approver of {ws.environment.name}"
            elif who.lower() in authors:
                problem = f"{who} wrote the change: authors cannot approve their own"
            checked.append(
                ApprovalStatus(who, problem, payload.revision, payload.created_at, payload.digest)
            )
    counted = tuple(sorted({c.approver for c in checked if c.approver and not c.problem}))
    missing = rules.allowed_signers is None
    return ApprovalVerdict(required, counted, tuple(checked), digest, root.origin, missing)


def _writers(ws: Workspace, since: str | None) -> set[str]:
    """Everyone who wrote or committed the change: the commits from the trust root's revision
    to this one (this one alone on first use). Git identities are claims anyone can make:
    with signedCommits they are at least signed."""
    from gitcops.approvals.commits import writers

    span = [f"{since}..{ws.revision.commit}"] if since else ["-1", ws.revision.commit]
    people = writers(ws.source.git_dir, span)
    if not people:
        name, _, rest = ws.revision.author.partition(" <")
        people = {name.strip().lower(), rest.rstrip(">").lower()} - {""}
    return people


def check_signature(ws: Workspace, store: StateStore, root: TrustRoot | None = None) -> str | None:
    """The signer of the revision, where the environment (as the trust root says) applies
    only signed commits; None where it does not ask. Raises UnsignedCommitError."""
    from gitcops.approvals.commits import verify_commit

    root = root or trust_root(ws, store)
    rule = root.environment.signed_commits
    if rule is None:
        return None
    with _allowed_signers(root, rule.allowed_signers) as signers:
        verdict = verify_commit(ws.source.git_dir, ws.revision.commit, signers)
    allowed_gpg = {k.upper()[-16:] for k in rule.gpg_keys}
    if verdict.valid and verdict.kind == "ssh":
        return verdict.signer
    if verdict.valid and verdict.kind == "gpg" and (verdict.key or "").upper()[-16:] in allowed_gpg:
        return verdict.signer or verdict.key
    why = verdict.message or ("not signed" if verdict.kind == "none" else "signature not allowed")
    raise UnsignedCommitError(
        f"{ws.environment.name} applies only commits signed by its allowed signers "
        f"(from {root.origin}): {ws.revision.short}: {why}"
    )


def gate(
    ws: Workspace,
    store: StateStore,
    risk: int,
    actor: str,
    minimum: int = 0,
    root: TrustRoot | None = None,
) -> list[AuditEvent]:
    """Signed commits, then approvals: raises (nothing written but the refusal's audit entry)
    or returns the audit events that record what was checked."""
    root = root or trust_root(ws, store)
    events: list[AuditEvent] = []
    signer = check_signature(ws, store, root)
    if signer is not None:
        events.append(AuditEvent("commit.verified", ws.revision.commit, {"signer": signer}))
    verdict = check_approvals(ws, store, risk, minimum, root)
    if verdict.required == 0:
        return events
    detail = {
        "required": verdict.required,
        "approvers": list(verdict.approvers),
        "digest": verdict.digest,
        "rules": verdict.origin,
        "risk": risk,
    }
    if not verdict.satisfied and verdict.signers_missing:
        raise ApprovalRequiredError(
            f"{ws.scope} at {ws.revision.short} needs {verdict.required} approval(s), but its "
            f"trusted rules (from {verdict.origin}) name no approvals.allowedSigners file to "
            "verify them against"
        )
    if not verdict.satisfied:
        store.append_audit(
            ws.scope, None, actor, AuditEvent("approval.refused", ws.revision.commit, detail)
        )
        have = ", ".join(verdict.approvers) or "none"
        rejected = [
            f"{c.approver or 'unknown key'}: {c.problem}" for c in verdict.checked if c.problem
        ]
        extra = f"; not counted: {'; '.join(rejected)}" if rejected else ""
        raise ApprovalRequiredError(
            f"{ws.scope} at {ws.revision.short} needs {verdict.required} approval(s) of its "
            f"rendered state {verdict.digest[:12]} (rules from {verdict.origin}, risk {risk}); "
            f"has {len(verdict.approvers)} ({have}){extra}. Approve with: gitcops approve "
            f"--env {ws.environment.name} {ws.revision.short}"
        )
    events.append(AuditEvent("approval.verified", ws.revision.commit, detail))
    return events


def approve(rt: Runtime, repo: str, env: str, rev: str | None, key: str | None) -> tuple[str, str]:
    """Sign an approval of `env`'s rendered state at `rev` and store it in the repository's
    notes (push refs/notes/gitcops-approvals to share it). Returns (commit, digest)."""
    from gitcops.approvals import ssh
    from gitcops.approvals import store as notes
    from gitcops.approvals.model import Approval, ApprovalPayload
    from gitcops.engine.planning import open_checked

    ws = open_checked(rt, repo, env, rev)
    try:
        if ws.source.workdir is None:
            # A remote's mirror is overwritten by the next fetch: sign in a clone, then push.
            raise GitcopsError(
                "approve signs in a local clone (--repo PATH), whose notes you then push: "
                "git push origin refs/notes/gitcops-approvals"
            )
        chosen = key or ssh.signing_key_from_git(ws.source.git_dir)
        if not chosen:
            raise GitcopsError(
                "no signing key: pass --key PRIVATE_KEY or set git's user.signingKey"
            )
        digest = rendered_digest(ws)
        payload = ApprovalPayload(ws.project.name, env, digest, ws.revision.commit, time.time())
        signature = ssh.sign(payload.canonical(), chosen)
        notes.add(ws.source.git_dir, Approval(payload, signature, ws.revision.commit))
        return ws.revision.commit, digest
    finally:
        ws.close()


def list_approvals(
    rt: Runtime, repo: str, env: str, rev: str | None, state: str | None
) -> ApprovalVerdict:
    """The approvals of `env`'s rendered state at `rev`, each verified (the risk is that of
    a plan of the revision now)."""
    from gitcops.engine.planning import make_plan, open_checked, plan_risk

    ws = open_checked(rt, repo, env, rev)
    try:
        store = rt.store(state)
        try:
            result = make_plan(ws, store, with_fingerprint=False)
            risk = plan_risk(ws, store, result).score
        except GitcopsError:
            risk = 0  # live state unreachable: the base number of approvals is shown
        verdict = check_approvals(ws, store, risk)
        return verdict if verdict.digest else verdict._replace(digest=rendered_digest(ws))
    finally:
        ws.close()
