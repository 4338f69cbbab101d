"""DocumentMemo gives exactly what parsing the whole stream gives, or declines (None).

The oracle is the parser itself: `list(all_documents(data))`, and `load_documents` without a
memo. Values are compared by `repr`, which tells lists from tuples, ints from floats and
bools, keeps dict order and shows NaN as equal to NaN.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitcops.engine.cache import Cache
from gitcops.model.diagnostics import Diagnostics
from gitcops.render import docmemo
from gitcops.render.docmemo import DocumentMemo
from gitcops.render.yamldocs import YamlSyntaxError, all_documents, load_documents


def _oracle(data: bytes) -> list[Any]:
    return list(all_documents(data))


def _load(
    data: bytes, memo: DocumentMemo | None
) -> tuple[list[tuple[int, dict[str, Any]]], Diagnostics]:
    diags = Diagnostics()
    return load_documents(data, "f.yaml", diags, memo), diags


# (id, stream, whether the memo must cut it rather than decline)
CORPUS: list[tuple[str, bytes, bool]] = [
    ("implicit", b"a: 1\nb: [x, y]\n", True),
    ("leading-marker", b"---\na: 1\n", True),
    ("many", b"".join(b"---\nn: %d\nname: doc-%d\n" % (i, i) for i in range(50)), True),
    ("empty-docs", b"---\n---\n", True),
    ("empty-between", b"a: 1\n---\n---\nb: 2\n", True),
    ("marker-at-end", b"a: 1\n---", True),
    ("empty-stream", b"", True),
    ("comment-prefix", b"# header\n# more\n\n---\na: 1\n", True),
    ("comments-between", b"\n# c\n---\na: 1\n# trailing\n---\n# only a comment\n", True),
    ("tag-on-marker", b"--- !!map\na: 1\n--- !!seq\n- 1\n", True),
    ("block-scalar-top", b"--- |\n  text\n  more\n---\nb: 1\n--- >-\n  folded\n  line\n", True),
    ("flow-on-marker", b"--- {a: 1}\n--- [1, 2]\n--- plain\n--- 42\n", True),
    ("crlf", b"a: 1\r\n---\r\nb: 2\r\n--- {c: 3}\r\n---\r\nd: |\r\n  x\r\n  y\r\n", True),
    ("four-dashes", b"a: 1\n----: 2\n---\nb: 3\n", True),
    ("marker-comment", b"a: 1\n--- # comment\nb: 2\n---   #x\nc: 3\n", True),
    ("indented-marker-in-block", b"a: |\n  x\n  ---\n  y\n---\nb: |\n  ---\n", True),
    ("keep-chomping", b"a: |+\n  x\n\n---\nb: 1\n", True),
    (
        "anchors",
        b"base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\nl: [*b, *b]\n---\nc: &c [1]\nd: *c\n",
        True,
    ),
    (
        "quoted",
        b"a: 'it''s'\nb: \"tab\\tnew\\nline \\u00e9\"\nc: '---'\nd: \"...\"\n"
        b"---\ne: \"multi\n  line\"\nf: 'x\n\n  y'\n",
        True,
    ),
    (
        "scalars",
        b"i: 42\nneg: -7\noct: 0644\nhex: 0x1F\nbig: 18446744073709551615\n"
        b"f: 1.5\nexp: 1e3\nnz: -0.0\nbigf: 1e20\nwhole: 2.0\n"
        b"t: true\nf2: False\nn: null\ntilde: ~\nempty:\nyes: yes\n"
        b"ts: 2001-12-14t21:59:43.10-05:00\ndate: 2002-12-14\ntime: 1:20\n"
        b"bin: !!binary aGVsbG8=\nstr: !!str 12\nfl: !!float 3\ncustom: !foo bar\n"
        b"---\n- 0\n- .5\n- +1\n- 1_000\n",
        True,
    ),
    ("unicode", '名前: 値\nemoji: 🎉\n---\n- ü\n- "\\u00e9 \u00a0x"\n'.encode(), True),
    ("tab-after-marker", b"---\t{a: 1}\n---\tb\n", True),
    ("no-trailing-newline", b"a: 1\n---\nb: 2", True),
    ("cr-only", b"a: 1\r---\rb: 2\r", False),
]


@pytest.mark.parametrize(("data", "must_cut"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_corpus_matches_whole_stream_parse(data: bytes, must_cut: bool) -> None:
    """Whatever the memo returns is what the parser returns for the whole stream; a memo
    restored from what the first one used returns the same without parsing anything."""
    expected = _oracle(data)
    memo = DocumentMemo()
    result = memo.documents(data)
    if must_cut:
        assert result is not None
    if result is None:
        assert DocumentMemo(dict(memo.used)).documents(data) is None
        return
    assert repr(result) == repr(expected)

    again = DocumentMemo(dict(memo.used))
    assert repr(again.documents(data)) == repr(expected)
    assert again.misses == 0
    assert not again.stale


@pytest.mark.parametrize(("data", "must_cut"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_corpus_load_documents_same_with_and_without_memo(data: bytes, must_cut: bool) -> None:
    """load_documents, cold and warm memo alike, gives what it gives without one."""
    plain_docs, plain_diags = _load(data, None)
    memo = DocumentMemo()
    docs, diags = _load(data, memo)
    assert repr(docs) == repr(plain_docs)
    assert diags.items == plain_diags.items
    warm_docs, warm_diags = _load(data, DocumentMemo(dict(memo.used)))
    assert repr(warm_docs) == repr(plain_docs)
    assert warm_diags.items == plain_diags.items


@pytest.mark.parametrize(
    "data",
    [
        b"%YAML 1.2\n---\na: 1",
        b"%TAG !e! tag:example.com,2000:\n--- !e!thing\na: 1\n",
        b"---\na: 1\n...\n%YAML 1.2\n---\nb: 2\n",
        b"a: 1\n...\n---\nb: 2\n",
        b"a: 1\n...\n",
        b"\xef\xbb\xbfa: 1\n---\nb: 2\n",
        b"\xef\xbb\xbf---\na: 1\n",
    ],
    ids=[
        "yaml-directive",
        "tag-directive",
        "late-directive",
        "end-marker",
        "end-at-eof",
        "bom",
        "bom-marker",
    ],
)
def test_streams_that_must_be_parsed_whole(data: bytes) -> None:
    """Directives, `...` and a BOM reach across markers: the memo declines, and
    load_documents still gives the whole-stream result."""
    expected = _oracle(data)  # valid YAML: declining is about the rule, not an error
    assert expected
    assert DocumentMemo().documents(data) is None
    docs, diags = _load(data, DocumentMemo())
    plain_docs, plain_diags = _load(data, None)
    assert repr(docs) == repr(plain_docs)
    assert diags.items == plain_diags.items


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (b"a: 1\n---\nb: 2\n---\nc: [1, 2\n---\nd: 4\n", "document 3"),
        (b"---\na: 1\n---\nb: 2\n---\nc: 1\nc: 2\n---\nd: 4\n", "document 3"),
        (b"a: &x 1\n---\nb: 1\n---\nc: *x\n", "document 3"),
        (b"a: 1\n---\nb: 2\n---\nc: \xff\n", "document 1"),  # reader errors have no position
        (b"a: 1\n---\nb: 2\n---\nc: d: e\n---\nf: 1\n", "document 3"),
        (b"a: 1\n---\n- x\n---\nplain\n---\nd: 1\n", "document 2"),  # not a mapping
    ],
    ids=["unclosed-flow", "duplicate-key", "alias-across-docs", "bad-utf8", "nested-colon", "list"],
)
def test_errors_are_reported_as_without_memo(data: bytes, label: str) -> None:
    """A broken document makes the memo fall back, so messages, lines and document labels
    are exactly those of the whole-stream parse, with a cold or a warm memo."""
    plain_docs, plain_diags = _load(data, None)
    assert plain_diags.items and plain_diags.items[0].document == label
    memo = DocumentMemo()
    docs, diags = _load(data, memo)
    assert diags.items == plain_diags.items
    assert repr(docs) == repr(plain_docs)
    warm_docs, warm_diags = _load(data, DocumentMemo(dict(memo.used)))
    assert warm_diags.items == plain_diags.items
    assert repr(warm_docs) == repr(plain_docs)


def test_syntax_error_position_is_that_of_the_whole_stream() -> None:
    """The line number counts from the file's start, not from the broken piece's."""
    data = b"a: 1\n---\nb: 2\n---\nc: [1, 2\n---\nd: 4\n"
    with pytest.raises(YamlSyntaxError) as whole:
        _oracle(data)
    _, diags = _load(data, DocumentMemo())
    assert [d.message for d in diags.items] == [whole.value.describe()]
    assert whole.value.line is not None and whole.value.line > 3


def test_values_from_a_hit_are_private_copies() -> None:
    """Rendering changes documents in place: that must not reach the memo or what it saves."""
    data = b"a: {b: [1, 2]}\n---\nc: 1\n"
    expected = _oracle(data)
    memo = DocumentMemo()
    first = memo.documents(data)  # misses
    assert first is not None
    saved = dict(memo.used)
    first[0]["a"]["b"].append(3)
    first[1]["new"] = True
    second = memo.documents(data)  # hits
    assert second is not None
    assert repr(second) == repr(expected)
    second[0]["a"]["b"].clear()
    second[0]["x"] = "y"
    assert repr(memo.documents(data)) == repr(expected)
    assert memo.used == saved
    assert repr(DocumentMemo(dict(memo.used)).documents(data)) == repr(expected)


def test_same_piece_twice_gives_independent_values() -> None:
    """A repeated document is parsed once, yet each occurrence is its own object."""
    data = b"---\na: [1]\n---\na: [1]\n"
    for memo in (DocumentMemo(), DocumentMemo(dict(_warm(data).used))):  # cold, then warm
        docs = memo.documents(data)
        assert docs is not None
        assert docs == [{"a": [1]}, {"a": [1]}]
        assert docs[0] is not docs[1]
        assert docs[0]["a"] is not docs[1]["a"]
        docs[0]["a"].append(2)
        assert docs[1] == {"a": [1]}
    cold = DocumentMemo()
    cold.documents(data)
    assert cold.misses == len(cold.used) == 2  # the empty prefix and the repeated piece


def _warm(data: bytes) -> DocumentMemo:
    memo = DocumentMemo()
    assert memo.documents(data) is not None
    return memo


def test_stale() -> None:
    """Saving is worth it after a miss, or when loaded entries went unused; not otherwise."""
    data = b"a: 1\n---\nb: 2\n"
    other = b"c: 3\n---\nd: 4\n"
    assert not DocumentMemo().stale

    cold = DocumentMemo()
    cold.documents(data)
    assert cold.misses > 0 and cold.stale

    exact = DocumentMemo(dict(cold.used))
    exact.documents(data)
    assert exact.misses == 0 and not exact.stale
    exact.documents(data)  # meeting the same pieces again changes nothing
    assert not exact.stale
    exact.documents(other)
    assert exact.misses > 0 and exact.stale

    extra = DocumentMemo({**cold.used, **_warm(other).used})
    extra.documents(data)
    assert extra.misses == 0 and extra.stale

    unused = DocumentMemo(dict(cold.used))
    assert unused.stale  # nothing met yet: saving would drop every entry


def _scalar(rng: random.Random) -> Any:
    kind = rng.randrange(10)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randint(-(2**40), 2**40)
    if kind == 3:
        # Not NaN or infinity: kustomize refuses them, and so does the parser.
        return rng.choice([0.5, -1.25, 1e-5, 3.0, 1e20])
    if kind == 4:
        return rng.choice(["yes", "no", "on", "0644", "1:20", "2024-01-02", "null", "~", ""])
    if kind == 5:
        return rng.choice(["---", "...", "a\n---\nb", "x\n...\n", "%YAML", "- x", "#c", "k: v"])
    if kind == 6:
        return rng.choice(["é", "名前", "🎉", "tab\there", "line\nbreak\n", " lead", "trail "])
    return "".join(rng.choice("abcxyz-_. ") for _ in range(rng.randrange(1, 12)))


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth >= 4 or roll < 0.4:
        return _scalar(rng)
    if roll < 0.7:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_key(rng): _value(rng, depth + 1) for _ in range(rng.randrange(5))}


def _key(rng: random.Random) -> str:
    return rng.choice(["a", "b", "name", "spec", "---", "x y", "ü", "k"]) + str(rng.randrange(9))


def _document(rng: random.Random) -> bytes:
    """One document's text, with the marker that introduces it."""
    roll = rng.random()
    if roll < 0.08:
        return b"---\n"  # empty
    if roll < 0.12:
        return b"--- # a comment\n"
    top: Any = (
        {_key(rng): _value(rng, 1) for _ in range(rng.randrange(1, 5))}
        if rng.random() < 0.8
        else [_value(rng, 1) for _ in range(rng.randrange(1, 4))]
    )
    text = yaml.safe_dump(
        top,
        explicit_start=True,
        default_flow_style=rng.choice([False, None, True]),
        allow_unicode=rng.random() < 0.5,
        sort_keys=False,
    )
    return text.encode()


def _stream(rng: random.Random, pool: list[bytes], most: int = 8) -> bytes:
    docs = [rng.choice(pool) for _ in range(rng.randrange(1, most))]
    data = b"".join(docs)
    roll = rng.random()
    if roll < 0.2 and data.startswith(b"---\n"):
        data = data[4:]  # the first document implicit
    elif roll < 0.35:
        data = b"# generated\n" + data
    if rng.random() < 0.15:
        data = data.replace(b"\n", b"\r\n")
    if rng.random() < 0.15:
        data = data.rstrip(b"\r\n")
    return data


def test_random_streams_match_whole_stream_parse() -> None:
    """Random multi-document streams, drawn from a pool so pieces recur across streams and
    one shared memo serves hits, all match the parser, and a restored memo needs no parse."""
    rng = random.Random(20240611)
    pool = [_document(rng) for _ in range(60)]
    shared = DocumentMemo()
    parsed_alone = 0
    for _ in range(200):
        data = _stream(rng, pool)
        expected = _oracle(data)
        before = shared.misses
        result = shared.documents(data)
        assert result is not None, data
        assert repr(result) == repr(expected), data
        fresh = DocumentMemo()
        assert repr(fresh.documents(data)) == repr(expected), data
        restored = DocumentMemo(dict(fresh.used))
        assert repr(restored.documents(data)) == repr(expected), data
        assert restored.misses == 0
        parsed_alone += fresh.misses
        assert shared.misses - before <= len(fresh.used)
    assert 0 < shared.misses < parsed_alone  # the shared memo really served hits


def test_load_memo_store_memo_round_trip(tmp_path: Path) -> None:
    """What is stored after a miss is loaded back and serves every piece without a parse."""
    data = b"a: 1\n---\nb: [x, {c: !!set {y}}]\n---\n--- |\n  text\n"
    expected = _oracle(data)
    cache = Cache(tmp_path)
    memo = cache.load_documents("repo@env")
    assert repr(memo.documents(data)) == repr(expected)
    assert memo.misses > 0
    cache.store_memo("documents", "repo@env", memo)
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 1

    loaded = cache.load_documents("repo@env")
    assert repr(loaded.documents(data)) == repr(expected)
    assert loaded.misses == 0
    assert not loaded.stale

    # Not stale: nothing is written (the file removed stays removed).
    files[0].unlink()
    cache.store_memo("documents", "repo@env", loaded)
    assert not files[0].exists()

    # Another scope does not see these entries.
    other = cache.load_documents("repo@other")
    other.documents(data)
    assert other.misses > 0


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff garbage \xfe",
        b"",
        b'["not", "a", "dict"]',
        b'{"abc": 1, "def": null}',
        b'{"abc": ["x"]}',
        b"{truncated",
    ],
    ids=["garbage", "empty", "list", "int-values", "list-values", "truncated"],
)
def test_corrupt_memo_file_loads_empty(tmp_path: Path, content: bytes) -> None:
    """A memo file that is unreadable or of the wrong shape costs only speed."""
    data = b"a: 1\n---\nb: 2\n"
    cache = Cache(tmp_path)
    memo = cache.load_documents("scope")
    memo.documents(data)
    cache.store_memo("documents", "scope", memo)
    (path,) = tmp_path.rglob("*.json")
    path.write_bytes(content)

    loaded = cache.load_documents("scope")
    assert not loaded.stale  # nothing was loaded
    assert repr(loaded.documents(data)) == repr(_oracle(data))
    assert loaded.misses == len(loaded.used) == 2  # both pieces parsed: the memo was empty


# ---------------------------------------------------------------------------------------------
# Regressions: streams where a first version of the memo differed from the whole-stream parse
# (found by this oracle). Values JSON cannot give back exactly are not remembered, UTF-16 is
# not cut, and nesting too deep for json is parsed each time.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"a: !!set {x, y}\n---\nb: 1\n",
        b"--- !!set {x}\n",
    ],
    ids=["set-in-map", "set-top"],
)
def test_set_tag_is_parsed_each_time(data: bytes) -> None:
    """The loader builds a Python set for `!!set`, which JSON cannot hold: once made the
    memo (and load_documents with it) raise."""
    expected = _oracle(data)
    result = DocumentMemo().documents(data)
    assert result is None or repr(result) == repr(expected)


@pytest.mark.parametrize(
    "data",
    [
        b"a: !!omap [x: 1, y: 2]\n---\nb: 1\n",
        b"a: !!pairs [x: 1, x: 2]\n",
    ],
    ids=["omap", "pairs"],
)
def test_omap_and_pairs_are_the_same_on_a_hit(data: bytes) -> None:
    """`!!omap`/`!!pairs` load as lists of tuples, which JSON gives back as lists of lists:
    a hit once differed from the parse."""
    expected = _oracle(data)
    cold = DocumentMemo()
    first = cold.documents(data)
    assert first is None or repr(first) == repr(expected)
    warm = DocumentMemo(dict(cold.used))
    second = warm.documents(data)
    assert second is None or repr(second) == repr(expected)


@pytest.mark.parametrize(
    "data",
    [
        # U+0A05 U+2D2D U+202D encode (UTF-16-LE) to b"\x05\n---\x2d\x20"... with "\n--- " in it.
        b"\xff\xfe" + "x: \u0a05\u2d2d\u202d\u3161".encode("utf-16-le"),
        b"\xfe\xff" + "x: \u050a\u2d2d\u2d20\u6131".encode("utf-16-be"),
    ],
    ids=["utf-16-le", "utf-16-be"],
)
def test_utf16_stream_is_not_cut(data: bytes) -> None:
    """The parser reads UTF-16 by its byte order mark; its bytes may spell "\\n--- " inside
    a character, where a cut once gave wrong values."""
    expected = _oracle(data)
    assert len(expected) == 1
    result = DocumentMemo().documents(data)
    assert result is None or repr(result) == repr(expected)


def test_nesting_too_deep_for_json_is_parsed_each_time() -> None:
    """A document nested deep enough to parse, yet too deep for json.dumps, once made the
    memo raise RecursionError."""
    parsed = 0
    for depth in range(900, 1400, 5):
        data = b"[" * depth + b"]" * depth + b"\n"
        try:
            expected = _oracle(data)
        except YamlSyntaxError:
            continue
        parsed += 1
        result = DocumentMemo().documents(data)
        assert result is None or _depth(result) == _depth(expected) == depth + 1, depth
    assert parsed > 0


def _depth(value: object) -> int:
    """Nesting depth of [[[...]]], walked without recursion (repr and == would recurse)."""
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    return depth


def test_long_new_streams_are_parsed_whole_and_handed_out_by_piece() -> None:
    """More new documents than `piecewise_up_to`: two parses (the first piece alone, then the
    stream), its documents handed out to the pieces (the first piece may hold none). Results
    and memo entries are those of parsing piece by piece."""
    rng = random.Random(20261126)
    pool = [_document(rng) for _ in range(60)]
    whole_parses = 0
    for _ in range(40):
        data = _stream(rng, pool, most=60)
        memo = DocumentMemo()
        result = memo.documents(data)
        assert result is not None
        assert repr(result) == repr(_oracle(data))
        piecewise = DocumentMemo(piecewise_up_to=10_000)
        assert repr(piecewise.documents(data)) == repr(result)
        assert piecewise.used == memo.used
        pieces = docmemo._pieces(data)
        assert pieces is not None
        if len(pieces) > memo.piecewise_up_to:  # all new in a fresh memo
            whole_parses += 1
            assert memo.parses == 2
        else:
            assert memo.parses == piecewise.parses
    assert whole_parses > 5


def test_the_threshold_decides_between_a_parse_per_piece_and_one_of_the_stream() -> None:
    data = b"".join(b"---\nn: %d\n" % i for i in range(5))  # 6 pieces: the first one empty
    expected = [{"n": i} for i in range(5)]
    piecewise = DocumentMemo(piecewise_up_to=6)
    assert piecewise.documents(data) == expected
    assert piecewise.parses == 6
    whole = DocumentMemo(piecewise_up_to=5)
    assert whole.documents(data) == expected
    assert whole.parses == 2  # the first piece alone, then the stream
    assert whole.used == piecewise.used
    assert DocumentMemo().piecewise_up_to == 16
    warm = DocumentMemo(dict(whole.used), piecewise_up_to=0)
    assert warm.documents(data) == expected
    assert warm.parses == 0
    assert warm.documents(data + b"---\nn: 5\n") == [*expected, {"n": 5}]
    assert warm.parses == 2  # one new piece is more than none


@pytest.mark.parametrize(
    "hidden",
    [b"\r---\r", "\x85---\x85".encode(), "\u2028---\u2028".encode(), "\n---\u2029".encode()],
    ids=["lone-cr", "nel", "ls", "marker-then-ps"],
)
def test_line_breaks_other_than_lf_are_never_cut(hidden: bytes) -> None:
    """libyaml also breaks lines at a lone CR, NEL, LS and PS: a document can start there,
    where the cut does not look. A first version then filed documents under the previous
    piece's text when the counts happened to line up (17 new documents, a leading `---`),
    and later runs of other files read the shifted entries."""
    data = b"".join(b"---\nn: %d\n" % i for i in range(17)) + b"---\nn: a" + hidden + b"n: b\n"
    memo = DocumentMemo()
    result = memo.documents(data)
    assert result is None or repr(result) == repr(_oracle(data))
    assert memo.used == {}  # nothing remembered from it
    assert memo.documents(b"---\nq: 1\n") == [{"q": 1}]


def test_documents_are_handed_out_only_when_the_first_piece_is_known() -> None:
    """Before the whole stream, its first piece is parsed alone: a comment-only first piece
    holds no document, a content first piece one, and the rest line up one per piece."""
    many = b"".join(b"---\nn: %d\n" % i for i in range(20))
    for prefix, first in [(b"", []), (b"# note\n", []), (b"top: 1\n", [{"top": 1}])]:
        data = prefix + many
        memo = DocumentMemo()
        assert memo.documents(data) == [*first, *({"n": i} for i in range(20))]
        assert memo.parses == 2
        piecewise = DocumentMemo(piecewise_up_to=10_000)
        piecewise.documents(data)
        assert memo.used == piecewise.used  # each piece's entry holds its own documents
    # A piece that parses into two documents, as if a line break the cut does not know
    # started one; no stream reaches this (those breaks are never cut), so it is asked alone.
    pieces = [b"", b"---\na: 1\n", b"---\nb: 2\n"]
    assert DocumentMemo()._by_piece(pieces, b"---\na: 1\n---\nx: 0\n---\nb: 2\n") is None
