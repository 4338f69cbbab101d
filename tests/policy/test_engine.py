"""The Rego policy engine, with the real regopy (rego-cpp): conftest conventions, errors, scale."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from gitcops.engine.runtime import PARALLEL_MIN_WORK
from gitcops.model.diagnostics import Diagnostic
from gitcops.model.errors import GitcopsError, InvalidInputError
from gitcops.validate.policy.engine import (
    PolicyEngine,
    PolicyFile,
    PolicyRuntimeError,
    RawFinding,
)

from .conftest import files, resource

Make = Callable[..., PolicyEngine]

LABELS = """
    package main

    import rego.v1

    deny contains msg if {
        not input.metadata.labels.owner
        msg := sprintf("%s: missing label owner", [input.metadata.name])
    }
"""


def _compile_errors(*policy_files: PolicyFile) -> list[Diagnostic]:
    with pytest.raises(InvalidInputError) as caught:
        PolicyEngine(policy_files)
    return caught.value.diagnostics


# -- conftest conventions ----------------------------------------------------------------------


def test_string_message(make_engine: Make) -> None:
    engine = make_engine(labels=LABELS)
    findings = engine.evaluate([resource("a", labels={"owner": "x"}), resource("b")], ["main"])
    assert findings == [
        RawFinding(1, "main", "deny", "b: missing label owner", {}, "policies/labels.rego")
    ]


def test_object_message_keeps_other_fields_as_details(make_engine: Make) -> None:
    engine = make_engine(
        mode="""
        package main

        import rego.v1

        violation contains {"msg": msg, "mode": mode, "severity": "high", "n": 3} if {
            mode := input.spec.mode
            endswith(mode, "7")
            msg := sprintf("%s is world-writable", [input.metadata.name])
        }
        """
    )
    doc = resource(spec={"path": "x", "mode": "0777"})
    [finding] = engine.evaluate([doc], ["main"])
    assert finding.rule == "violation"
    assert finding.message == "motd is world-writable"
    assert finding.details == {"mode": "0777", "severity": "high", "n": 3}
    assert finding.policy_file == "policies/mode.rego"


def test_deny_violation_and_warn_in_rule_order(make_engine: Make) -> None:
    engine = make_engine(
        all="""
        package main

        import rego.v1

        warn contains "w" if true
        violation contains "v" if true
        deny contains "d2" if true
        deny contains "d1" if true
        """
    )
    findings = engine.evaluate([{}], ["main"])
    assert [(f.rule, f.message) for f in findings] == [
        ("deny", "d1"),
        ("deny", "d2"),
        ("violation", "v"),
        ("warn", "w"),
    ]


def test_rules_may_be_written_as_arrays_strings_or_single_objects(make_engine: Make) -> None:
    engine = make_engine(
        shapes="""
        package a

        deny := ["x", {"msg": "y", "k": 1}]

        warn := "one message"

        violation := {"msg": "single object", "why": "test"}
        """
    )
    assert [(f.rule, f.message, f.details) for f in engine.evaluate([{}], ["a"])] == [
        ("deny", "x", {}),
        ("deny", "y", {"k": 1}),
        ("violation", "single object", {"why": "test"}),
        ("warn", "one message", {}),
    ]


def test_an_undefined_complete_rule_gives_nothing(make_engine: Make) -> None:
    engine = make_engine(
        a="""
        package main

        deny := "bad" if input.bad
        """
    )
    assert engine.evaluate([{}], ["main"]) == []
    assert [f.message for f in engine.evaluate([{"bad": True}], ["main"])] == ["bad"]


def test_multiple_namespaces_and_selection(make_engine: Make) -> None:
    engine = make_engine(
        labels=LABELS,
        extra="""
        package extra.checks

        import rego.v1

        warn contains msg if {
            input.kind == "File"
            msg := "a file"
        }
        """,
    )
    assert engine.namespaces == frozenset({"main", "extra.checks"})
    docs = [resource("a")]
    both = engine.evaluate(docs, ["extra.checks", "main"])
    assert [(f.namespace, f.rule, f.message) for f in both] == [
        ("extra.checks", "warn", "a file"),
        ("main", "deny", "a: missing label owner"),
    ]
    only = engine.evaluate(docs, ["extra.checks"])
    assert [(f.namespace, f.policy_file) for f in only] == [("extra.checks", "policies/extra.rego")]
    assert engine.evaluate(docs, ["main", "main"]) == engine.evaluate(docs, ["main"])


def test_unknown_namespace_yields_nothing(make_engine: Make) -> None:
    engine = make_engine(labels=LABELS)
    assert "nope" not in engine.namespaces
    assert engine.evaluate([resource()], ["nope"]) == []
    assert engine.evaluate([], ["main"]) == []


def test_package_without_conftest_rules_is_no_namespace(make_engine: Make) -> None:
    engine = make_engine(
        lib="""
        package lib.names

        import rego.v1

        valid(name) if regex.match(`^[a-z][a-z0-9-]*$`, name)

        allowed := {"web", "db"}
        """,
        main="""
        package main

        import rego.v1
        import data.lib.names

        deny contains msg if {
            not names.valid(input.metadata.name)
            msg := sprintf("bad name %s", [input.metadata.name])
        }
        """,
    )
    assert engine.namespaces == frozenset({"main"})
    assert engine.evaluate([resource("Bad_Name")], ["lib.names"]) == []
    findings = engine.evaluate([resource("ok-name"), resource("Bad_Name")], ["main"])
    assert [(f.position, f.message) for f in findings] == [(1, "bad name Bad_Name")]


def test_rules_spread_over_files_are_attributed_to_their_file(make_engine: Make) -> None:
    engine = make_engine(
        labels=LABELS,
        mode="""
        package main

        import rego.v1

        deny contains msg if {
            input.spec.mode == "0777"
            msg := sprintf("%s: mode %s is too open", [input.metadata.name, input.spec.mode])
        }
        """,
        joined="""
        package main

        import rego.v1

        deny contains msg if {
            input.kind == "File"
            msg := concat("", [input.metadata.name, " is a file, checked by the joined policy"])
        }
        """,
    )
    doc = resource(spec={"path": "p", "mode": "0777"})
    by_message = {f.message: f.policy_file for f in engine.evaluate([doc], ["main"])}
    assert by_message == {
        "motd: missing label owner": "policies/labels.rego",
        "motd: mode 0777 is too open": "policies/mode.rego",
        "motd is a file, checked by the joined policy": "policies/joined.rego",
    }


def test_data_is_available_to_policies(make_engine: Make) -> None:
    engine = make_engine(
        {"gitcops": {"config": {"labels": ["tier"]}}},
        required="""
        package main

        import rego.v1

        deny contains msg if {
            some label in data.gitcops.config.labels
            not input.metadata.labels[label]
            msg := sprintf("missing %s", [label])
        }
        """,
    )
    assert [f.message for f in engine.evaluate([resource()], ["main"])] == ["missing tier"]


def test_kubernetes_conftest_policy_works_unchanged(make_engine: Make) -> None:
    engine = make_engine(
        k8s="""
        package main

        import rego.v1

        deny contains msg if {
            input.kind == "Deployment"
            not input.spec.template.spec.securityContext.runAsNonRoot
            msg := "Containers must not run as root"
        }

        deny contains msg if {
            input.kind == "Deployment"
            not input.spec.selector.matchLabels.app
            msg := "Containers must provide app label for pod selectors"
        }

        warn contains msg if {
            input.kind == "Deployment"
            some container in input.spec.template.spec.containers
            endswith(container.image, ":latest")
            msg := sprintf("container %s uses a latest image", [container.name])
        }
        """
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "shop/app:latest"},
                        {"name": "proxy", "image": "nginx:1.27"},
                    ]
                }
            },
        },
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}
    findings = engine.evaluate([service, deployment], ["main"])
    assert [(f.position, f.rule, f.message) for f in findings] == [
        (1, "deny", "Containers must not run as root"),
        (1, "warn", "container app uses a latest image"),
    ]


def test_policies_reading_the_whole_input_see_all_of_it(make_engine: Make) -> None:
    engine = make_engine(
        keys="""
        package main

        import rego.v1

        warn contains msg if {
            some key, _ in input
            startswith(key, "x-")
            msg := sprintf("extension %s", [key])
        }
        """,
        paths="""
        package main

        import rego.v1

        deny contains msg if {
            object.get(input, ["metadata", "labels", "tier"], "") == "debug"
            msg := "debug tier"
        }
        """,
    )
    doc = resource(labels={"tier": "debug"}) | {"x-extra": 1}
    assert sorted(f.message for f in engine.evaluate([doc], ["main"])) == [
        "debug tier",
        "extension x-extra",
    ]


def test_strings_with_special_characters_round_trip(make_engine: Make) -> None:
    engine = make_engine(
        text="""
        package main

        import rego.v1

        deny contains msg if {
            contains(input.spec.content, "TODO\\n")
            msg := sprintf("%s: %s", [input.metadata.name, input.spec.content])
        }

        warn contains msg if {
            input.metadata.labels.quote == "say \\"hi\\" \\\\ bye"
            msg := input.metadata.labels.quote
        }

        violation contains input.metadata.labels.text if input.metadata.labels.text == "é✓ tab\\t"
        """
    )
    doc = resource(
        labels={"quote": 'say "hi" \\ bye', "text": "é✓ tab\t"},
        spec={"path": "p", "content": 'first "line"\nTODO\nend\n'},
    )
    findings = engine.evaluate([doc], ["main"])
    assert [(f.rule, f.message) for f in findings] == [
        ("deny", 'motd: first "line"\nTODO\nend\n'),
        ("violation", "é✓ tab\t"),
        ("warn", 'say "hi" \\ bye'),
    ]


def test_inputs_that_are_not_plain_json_are_converted(make_engine: Make) -> None:
    engine = make_engine(
        types="""
        package main

        import rego.v1

        warn contains sprintf("%v", [input.when]) if input.when
        warn contains sprintf("%d", [count(input.items)]) if input.items
        warn contains "big" if input.big > 1000
        warn contains "keys" if input.map["1"] == "one"
        """
    )
    doc: dict[str, Any] = {
        "when": dt.date(2024, 5, 1),
        "items": ("a", "b"),
        "big": 2**70,
        "map": {1: "one"},
    }
    assert sorted(f.message for f in engine.evaluate([doc], ["main"])) == [
        "2",
        "2024-05-01",
        "big",
        "keys",
    ]


# -- many inputs ---------------------------------------------------------------------------------


def _numbered(n: int) -> list[dict[str, Any]]:
    return [resource(f"file-{i}", labels={"owner": "x"} if i % 7 else {}) for i in range(n)]


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-processes"])
def test_many_inputs_keep_their_index(make_engine: Make, workers: int) -> None:
    engine = make_engine(
        labels=LABELS,
        count="""
        package main

        import rego.v1

        warn contains msg if {
            endswith(input.metadata.name, "0")
            msg := sprintf("%s ends in 0", [input.metadata.name])
        }
        """,
    )
    n = PARALLEL_MIN_WORK * 3
    findings = engine.evaluate(_numbered(n), ["main"], workers=workers)
    expected = []
    for i in range(n):
        if i % 7 == 0:
            expected.append((i, "deny", f"file-{i}: missing label owner"))
        if i % 10 == 0:
            expected.append((i, "warn", f"file-{i} ends in 0"))
    assert [(f.position, f.rule, f.message) for f in findings] == expected


def test_parallel_and_serial_give_the_same_findings(make_engine: Make) -> None:
    engine = make_engine(labels=LABELS)
    docs = _numbered(PARALLEL_MIN_WORK * 2)
    serial = engine.evaluate(docs, ["main"])
    assert engine.evaluate(docs, ["main"], workers=2) == serial
    assert engine.evaluate(docs, ["main"], workers=lambda work: 3) == serial
    assert len(serial) == len([d for d in docs if not d["metadata"]["labels"]])


# -- compile errors ------------------------------------------------------------------------------


def test_syntax_errors_name_every_bad_file_and_line() -> None:
    diagnostics = _compile_errors(
        *files(
            good=LABELS,
            bad="""
            package main

            import rego.v1

            deny contains msg if {
                x :=
            }
            """,
            worse="""
            package other

            warn contains msg if {
                msg := "a" +
            }
            """,
        )
    )
    assert [(d.file, d.line) for d in diagnostics] == [
        ("policies/bad.rego", 6),
        ("policies/worse.rego", 4),
    ]
    assert all("does not compile" in d.message for d in diagnostics)
    assert "policies/bad.rego:6: does not compile:" in str(diagnostics[0])


def test_unknown_function_is_a_compile_error() -> None:
    diagnostics = _compile_errors(
        *files(
            calls="""
            package main

            import rego.v1
            import data.lib

            deny contains msg if {
                lib.known(input)
                msg := frobnicate(input.kind)
            }

            warn contains msg if {
                msg := lib.unknown(input.kind)
            }
            """,
            lib="""
            package lib

            import rego.v1

            known(x) if x
            """,
        )
    )
    assert [(d.file, d.line) for d in diagnostics] == [
        ("policies/calls.rego", 8),
        ("policies/calls.rego", 12),
    ]
    assert "frobnicate()" in diagnostics[0].message
    assert "lib.unknown()" in diagnostics[1].message


V0_FORMS = {
    "deny": ("deny[msg] {\n    msg := input.kind\n}\n", "deny contains msg if"),
    "warn": ('warn[msg]{\n    msg := "w"\n}\n', "warn contains msg if"),
    "violation": (
        'violation[{"msg": m}] {\n    m := "v"\n}\n',
        'violation contains {"msg": m} if',
    ),
    "deny-if": ('deny[msg] if {\n    msg := "x"\n}\n', "deny contains msg if"),
    "helper": ('names[n] {\n    n := "a"\n}\n', "names contains n if"),
    "no-if": ("allow {\n    input.ok\n}\n", "allow if"),
}


@pytest.mark.parametrize("form", sorted(V0_FORMS))
def test_rego_v0_rule_syntax_is_rejected_with_the_v1_spelling(form: str) -> None:
    text, v1 = V0_FORMS[form]
    [diagnostic] = _compile_errors(
        PolicyFile("policies/old.rego", f"package main\n\n# a v0 policy\n{text}")
    )
    assert (diagnostic.file, diagnostic.line) == ("policies/old.rego", 4)
    assert "v0" in diagnostic.message
    assert v1 in diagnostic.message


def test_v0_look_alikes_in_comments_and_strings_are_fine(make_engine: Make) -> None:
    engine = make_engine(
        ok="""
        package main

        import rego.v1

        # deny[msg] { old syntax in a comment }
        deny contains msg if {
            input.bad
            msg := "deny[msg] { in a string"
        }
        """
    )
    assert [f.message for f in engine.evaluate([{"bad": True}], ["main"])] == [
        "deny[msg] { in a string"
    ]


def test_all_kinds_of_problems_are_reported_together() -> None:
    diagnostics = _compile_errors(
        *files(
            a="package main\n\ndeny[msg] {\n    msg := 1\n}\n",
            b="package main\n\ndeny contains msg if {\n    x :=\n}\n",
            c="package main\n\ndeny contains msg if {\n    msg := foo.bar(1)\n}\n",
        )
    )
    assert [(d.file, d.line) for d in diagnostics] == [
        ("policies/a.rego", 3),
        ("policies/b.rego", 4),
        ("policies/c.rego", 4),
    ]


def test_a_file_without_package_is_reported() -> None:
    diagnostics = _compile_errors(
        PolicyFile("policies/nopkg.rego", "# no package\n\ndeny contains 1 if true\n")
    )
    assert (diagnostics[0].file, diagnostics[0].line) == ("policies/nopkg.rego", 3)
    assert "package" in diagnostics[0].message


def test_files_that_only_conflict_together_are_named() -> None:
    diagnostics = _compile_errors(
        *files(
            one="package main\n\ndefault limit := 1\n",
            two="package main\n\ndefault limit := 2\n\ndeny contains 1 if limit > 1\n",
            fine="package other\n\nwarn contains 1 if true\n",
        )
    )
    assert [d.file for d in diagnostics] == ["policies/one.rego", "policies/two.rego"]
    assert all("together" in d.message for d in diagnostics)


def test_with_that_would_crash_rego_cpp_is_reported_not_fatal() -> None:
    # `with input as <variable>` aborts the whole process inside rego-cpp's compiler.
    diagnostics = _compile_errors(
        *files(
            labels=LABELS,
            batch="""
            package batch

            import rego.v1

            results contains r if {
                some doc in input.docs
                r := data.main.deny with input as doc
            }
            """,
        )
    )
    assert [(d.file, d.line) for d in diagnostics] == [("policies/batch.rego", 7)]
    assert "`with`" in diagnostics[0].message


def test_with_that_rego_cpp_compiles_is_accepted(make_engine: Make) -> None:
    engine = make_engine(
        selftest="""
        package selftest

        import rego.v1

        kind := input.kind

        warn contains "kind is not read from input" if {
            not kind == "File" with input as {"kind": "File"}
        }
        """,
    )
    assert engine.evaluate([{}], ["selftest"]) == []


# -- runtime errors ------------------------------------------------------------------------------


def test_runtime_error_names_file_line_rule_and_input(make_engine: Make) -> None:
    engine = make_engine(
        labels=LABELS,
        ratio="""
        package main

        import rego.v1

        deny contains msg if {
            share := input.spec.used / input.spec.size
            share > 0.9
            msg := "almost full"
        }
        """,
    )
    docs = [resource(spec={"used": 1, "size": 2}), resource(spec={"used": 1, "size": 0})]
    with pytest.raises(PolicyRuntimeError) as caught:
        engine.evaluate(docs, ["main"])
    error = caught.value
    assert isinstance(error, GitcopsError)
    assert (error.file, error.line, error.index) == ("policies/ratio.rego", 5, 1)
    assert (error.namespace, error.rule) == ("main", "deny")
    assert "divide by zero" in str(error)
    assert str(error).startswith("policies/ratio.rego:5: rule main.deny failed on input 1")


def test_builtin_errors_are_runtime_errors_not_silent(make_engine: Make) -> None:
    engine = make_engine(
        numbers="""
        package main

        import rego.v1

        warn contains "too many replicas" if to_number(input.spec.replicas) > 10
        """
    )
    assert engine.evaluate([resource(spec={"replicas": "3"})], ["main"]) == []
    with pytest.raises(PolicyRuntimeError) as caught:
        engine.evaluate([resource(spec={"replicas": "three"})], ["main"])
    assert (caught.value.file, caught.value.rule, caught.value.index) == (
        "policies/numbers.rego",
        "warn",
        0,
    )


def test_recursion_and_conflicts_are_runtime_errors(make_engine: Make) -> None:
    engine = make_engine(
        loop="""
        package main

        import rego.v1

        a := b

        b := a

        deny contains "loop" if a
        """,
        conflict="""
        package other

        import rego.v1

        x := input.a

        x := input.b

        warn contains "x" if x
        """,
    )
    with pytest.raises(PolicyRuntimeError, match="Recursion") as caught:
        engine.evaluate([{}], ["main"])
    assert caught.value.file == "policies/loop.rego"
    with pytest.raises(PolicyRuntimeError, match="multiple outputs") as caught:
        engine.evaluate([{"a": 1, "b": 2}], ["other"])
    assert caught.value.file == "policies/conflict.rego"


def test_message_object_without_msg_is_a_runtime_error(make_engine: Make) -> None:
    engine = make_engine(
        nomsg="""
        package main

        import rego.v1

        deny contains {"message": "wrong key"} if true
        """
    )
    with pytest.raises(PolicyRuntimeError, match='"msg"') as caught:
        engine.evaluate([{}], ["main"])
    assert caught.value.file == "policies/nomsg.rego"


def test_first_failing_input_is_reported_from_a_large_batch(make_engine: Make) -> None:
    engine = make_engine(
        ratio="""
        package main

        import rego.v1

        warn contains "odd" if 1 / input.n > 1
        """
    )
    docs = [{"n": 1 + i % 5} for i in range(PARALLEL_MIN_WORK * 3)]
    docs[2500]["n"] = 0
    docs[2900]["n"] = 0
    with pytest.raises(PolicyRuntimeError) as caught:
        engine.evaluate(docs, ["main"], workers=2)
    assert caught.value.index == 2500


def test_a_crashing_with_is_reported_from_a_thread_without_forking_beside_it() -> None:
    """With other threads alive, the compile probe runs in a new interpreter, not a fork."""
    import os
    import threading

    forks: list[int] = []
    os.register_at_fork(before=lambda: forks.append(threading.active_count()))
    found: list[list[Diagnostic]] = []
    hold = threading.Event()
    other = threading.Thread(target=hold.wait)  # alive while the engine compiles
    other.start()
    try:
        worker = threading.Thread(
            target=lambda: found.append(
                _compile_errors(
                    *files(
                        labels=LABELS,
                        batch="""
                        package batch

                        import rego.v1

                        results contains r if {
                            some doc in input.docs
                            r := data.main.deny with input as doc
                        }
                        """,
                    )
                )
            )
        )
        worker.start()
        worker.join()
    finally:
        hold.set()
        other.join()
    [diagnostics] = found
    assert [(d.file, d.line) for d in diagnostics] == [("policies/batch.rego", 7)]
    assert forks == []  # (subprocess.run spawns: it never calls fork's Python hooks)
