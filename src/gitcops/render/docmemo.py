"""Parsed YAML documents remembered by the digest of their text.

A commit usually changes a few documents of a large file. The file is cut at its document
markers (a `---` line); each piece whose text was parsed before is taken from the memo and
only the others go through the parser. Values are kept as JSON text, so every use gets its
own copy (rendering changes documents in place) and the memo can be saved as it is. Only
values that JSON gives back exactly are kept (maps, lists, strings, numbers, booleans, null:
what documents are made of); anything else is parsed again each time.

A stream is only cut where that cannot change its meaning. Directives (`%YAML`, `%TAG`) and
document end markers (`...`) apply across markers, a byte order mark must stay at the start
(UTF-16 is not cut at all), and line breaks other than LF and CRLF could start documents
where the cut does not look, so such a stream is parsed whole; so is any stream whose pieces
do not each parse into exactly the documents they should, which also gives errors their
usual positions.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from typing import Any

from gitcops.model.canonical import exact_json
from gitcops.model.memo import TextMemo
from gitcops.render.yamldocs import YamlSyntaxError, all_documents

__all__ = ["DocumentMemo"]

# The parser reads UTF-16 too, when a byte order mark says so; its "---" is not these bytes.
_BYTE_ORDER_MARKS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_OTHER_BREAKS = ("\x85".encode(), "\u2028".encode(), "\u2029".encode())
_END = re.compile(rb"^\.\.\.(?:[ \t\r\n]|$)", re.MULTILINE)


class DocumentMemo(TextMemo):
    """Hex digest of a piece's text -> the JSON of its values (a one-item list, or empty).

    A stream with more new pieces than `piecewise_up_to` is parsed whole, then handed out to
    them: one parser over the stream beats one per document. `parses` counts the parser's
    runs, over a piece or a whole stream."""

    def __init__(self, known: dict[str, str] | None = None, *, piecewise_up_to: int = 16) -> None:
        super().__init__(known)
        self.piecewise_up_to = piecewise_up_to
        self.parses = 0

    def documents(self, data: bytes) -> list[Any] | None:
        """Every document's value (None for an empty one) like all_documents, or None when
        the stream must be parsed whole (the caller then reports its errors)."""
        pieces = _pieces(data)
        if pieces is None:
            return None
        digests = [hashlib.blake2b(piece, digest_size=16).hexdigest() for piece in pieces]
        texts = [self._used.get(d) or self._known.get(d) for d in digests]
        parsed: list[list[Any]] | None = None
        if sum(text is None for text in texts) > self.piecewise_up_to:  # mostly new: a first run
            parsed = self._by_piece(pieces, data)
            if parsed is None:
                return None
        values: list[Any] = []
        for number, piece in enumerate(pieces):
            digest = digests[number]
            text = texts[number] or self._used.get(digest)  # the same text met earlier
            found = None if text is None else _unpack(text)
            if found is None or text is None:
                found = parsed[number] if parsed else self._parse(piece, explicit=number > 0)
                if found is None:
                    return None
                text = _pack(found)
                if text is None:  # not plain data: parsed again next time
                    values.extend(found)
                    continue
                self.misses += 1
            values.extend(found)
            self._used[digest] = text
        return values

    def _by_piece(self, pieces: list[bytes], data: bytes) -> list[list[Any]] | None:
        """The stream's documents, piece by piece, or None if they do not line up with them.

        A piece that starts with a marker starts a document, so it holds at least one. The
        first piece (what precedes the first marker) is parsed alone to learn how many it
        holds: when the stream then holds exactly that many plus one per other piece, every
        other piece holds exactly one, in order."""
        first = self._parse(pieces[0], explicit=False)
        if first is None:
            return None
        try:
            found = self._all_documents(data)
        except YamlSyntaxError:
            return None
        if len(found) != len(first) + len(pieces) - 1:
            return None
        return [found[: len(first)], *([value] for value in found[len(first) :])]

    def _parse(self, piece: bytes, *, explicit: bool) -> list[Any] | None:
        """The piece's documents: one if it starts with a marker, at most one before the
        first."""
        try:
            found = self._all_documents(piece)
        except YamlSyntaxError:
            return None
        if len(found) != 1 if explicit else len(found) > 1:
            return None
        return found

    def _all_documents(self, data: bytes) -> list[Any]:
        self.parses += 1
        return list(all_documents(data))


def _pack(found: list[Any]) -> str | None:
    """The JSON text of the values, if it gives them back exactly: tags such as !!set,
    !!omap and !!pairs make sets and tuples, and very deep nesting exceeds json's recursion."""
    return exact_json(found)


def _unpack(text: str) -> list[Any] | None:
    """A remembered entry, or None if it is not what _pack writes (the cache directory is
    the user's to clear or damage)."""
    try:
        found = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return found if isinstance(found, list) and len(found) <= 1 else None


def _pieces(data: bytes) -> list[bytes] | None:
    # bytes.find, not a multi-line regular expression: ~20 times faster on a large file.
    if data.startswith((b"%", *_BYTE_ORDER_MARKS)) or b"\n%" in data or b"\0" in data:
        return None
    # Line breaks other than LF and CRLF (a lone CR, NEL, LS, PS) could start a document
    # where this cut does not look.
    if any(b in data for b in _OTHER_BREAKS) or data.count(b"\r") != data.count(b"\r\n"):
        return None
    if (data.startswith(b"...") or b"\n..." in data) and _END.search(data):
        return None
    starts = [0] if _is_marker(data, 0) else []
    at = data.find(b"\n---")
    while at >= 0:
        if _is_marker(data, at + 1):
            starts.append(at + 1)
        at = data.find(b"\n---", at + 4)
    bounds = [0, *starts, len(data)]  # the first piece is what precedes the first marker
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _is_marker(data: bytes, at: int) -> bool:
    """Whether a document marker (`---` then a blank or the line's end) starts at `at`."""
    return data.startswith(b"---", at) and data[at + 3 : at + 4] in (b"", b" ", b"\t", b"\r", b"\n")
