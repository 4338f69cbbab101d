"""What the HTTP application needs from the agent, and nothing more.

The app never imports the agent: the agent implements `AgentHooks` and hands an instance to
`create_app`. The app calls the hooks from worker threads, possibly several at once, while the
agent's own threads run: an implementation must be thread-safe, and quick (it records and
returns; the reconcile happens on the agent's thread).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class AgentHooks(Protocol):
    def push(self, forge: str, branch: str, commit: str | None) -> bool:
        """A signed push to `branch` arrived from `forge` ("github", "gitlab" or "gitea").

        Return True if it is the branch the agent watches: a fetch and reconcile is then due at
        once (pushes arriving before it starts coalesce into one reconcile of the newest
        commit). Return False for any other branch (answered 200, counted as `other_branch`).

        `commit` is the forge's word for the new head (a full commit id, or None): a hint for
        logs and coalescing, never a revision to apply without fetching the branch, since a
        shared secret can sign pushes of other repositories too."""
        ...

    def ready(self) -> bool:
        """True once the first fetch of the source is done (`/readyz` answers 200, else 503)."""
        ...

    def health(self) -> Mapping[str, object]:
        """A small JSON-serialisable status for `/healthz`, for example::

            {"version": "0.1.0", "source": {"reachable": true},
             "environments": {"dev": {"result": "success", "revision": "3f2a…"}},
             "audit": {"sequence": 42, "hash": "9c1e…"}}

        Never secrets, never error text that may quote them."""
        ...
