"""What the memos of parsed and of prepared documents share: JSON texts by digest, and which
of them a run used, so that saving keeps exactly those."""

from __future__ import annotations


class TextMemo:
    """Hex digest -> the JSON text remembered for it."""

    def __init__(self, known: dict[str, str] | None = None) -> None:
        self._known = known or {}
        self._used: dict[str, str] = {}
        self.misses = 0  # entries added
        self.hits = 0  # entries taken

    @property
    def used(self) -> dict[str, str]:
        """The entries of every document met since this memo was made: what to keep."""
        return self._used

    @property
    def stale(self) -> bool:
        """Whether saving `used` would change what was loaded."""
        return self.misses > 0 or len(self._used) != len(self._known)
