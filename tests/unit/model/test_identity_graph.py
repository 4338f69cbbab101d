"""Resource identity (text form round trip) and dependency graphs (cycles, topological order)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitcops.model.graph import find_cycle, topological_order
from gitcops.model.identity import ResourceId, provider_for_group, split_api_version

# -- identity ------------------------------------------------------------------------------------

SAFE = st.text(
    alphabet=st.characters(
        whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="-._:", max_codepoint=0x2FF
    ),
    min_size=1,
    max_size=20,
)
GROUP = st.just("") | SAFE
NAMESPACE = st.just("") | SAFE


@given(group=GROUP, kind=SAFE, name=SAFE, namespace=NAMESPACE)
def test_resource_id_text_round_trip(group: str, kind: str, name: str, namespace: str) -> None:
    rid = ResourceId(group, kind, name, namespace)
    text = str(rid)
    assert ResourceId.parse(text) == rid
    assert ResourceId.parse(f"  {text}\n") == rid
    assert str(ResourceId.parse(text)) == text


def test_resource_id_text_forms() -> None:
    assert str(ResourceId("local.gitcops.io", "File", "motd")) == "local.gitcops.io/File/motd"
    namespaced = ResourceId("apps", "Deployment", "web", "prod")
    assert str(namespaced) == "apps/namespaces/prod/Deployment/web"
    assert ResourceId.parse("/ConfigMap/cfg") == ResourceId("", "ConfigMap", "cfg")
    assert ResourceId.parse("/namespaces/ns/Secret/s") == ResourceId("", "Secret", "s", "ns")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "motd",
        "local.gitcops.io/File",
        "local.gitcops.io//motd",
        "local.gitcops.io/File/",
        "a/b/c/d",
        "apps/ns/prod/Deployment/web",
        "apps/namespaces//Deployment/web",
        "apps/namespaces/prod//web",
        "apps/namespaces/prod/Deployment/",
        "apps/namespaces/prod/Deployment/web/extra",
    ],
)
def test_bad_references_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="not an object reference"):
        ResourceId.parse(text)


def test_resource_ids_order_and_hash_by_value() -> None:
    a = ResourceId("g", "K", "a")
    assert a == ResourceId("g", "K", "a")
    assert len({a, ResourceId("g", "K", "a")}) == 1
    assert sorted([ResourceId("g", "K", "b"), a]) == [a, ResourceId("g", "K", "b")]


def test_api_versions_and_providers() -> None:
    assert split_api_version("local.gitcops.io/v1") == ("local.gitcops.io", "v1")
    assert split_api_version("v1") == ("", "v1")
    assert provider_for_group("local.gitcops.io") == "local"
    assert provider_for_group("apps") == "kubernetes"
    assert provider_for_group("a.b.gitcops.io") == "kubernetes"
    assert ResourceId("local.gitcops.io", "File", "x").provider == "local"


# -- graphs --------------------------------------------------------------------------------------

Deps = Mapping[Any, Sequence[Any]]


def assert_closed_cycle(cycle: Sequence[Hashable] | None, deps: Deps) -> None:
    assert cycle is not None
    assert len(cycle) >= 2
    assert cycle[0] == cycle[-1], "a cycle is returned as a closed path"
    assert len(set(cycle[:-1])) == len(cycle) - 1, "no node repeats inside the cycle"
    for node, dep in itertools.pairwise(cycle):
        assert dep in deps.get(node, ()), f"{node} -> {dep} is not an edge"


@pytest.mark.parametrize(
    "deps",
    [
        {"a": ["a"]},
        {"a": ["b"], "b": ["a"]},
        {"a": ["b"], "b": ["c"], "c": ["d"], "d": ["b"]},
        {"x": [], "a": ["x", "b"], "b": ["c"], "c": ["a", "x"]},
    ],
)
def test_find_cycle_returns_a_closed_path(deps: Deps) -> None:
    assert_closed_cycle(find_cycle(list(deps), deps), deps)


def test_find_cycle_on_a_dag_is_none() -> None:
    deps = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": [], "e": ["missing"]}
    assert find_cycle(list(deps), deps) is None
    assert find_cycle([], {}) is None


def test_find_cycle_handles_a_10000_node_chain_closing_at_the_end() -> None:
    size = 10_000
    deps = {f"n{i}": [f"n{i + 1}"] for i in range(size - 1)}
    assert find_cycle(list(deps), deps) is None
    deps[f"n{size - 1}"] = ["n0"]
    cycle = find_cycle(list(deps), deps)
    assert_closed_cycle(cycle, deps)
    assert cycle is not None and len(cycle) == size + 1


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[int], dict[int, list[int]]]:
    """A random DAG over 0..n-1 (edges only to lower numbers), nodes listed in random order."""
    size = draw(st.integers(min_value=0, max_value=40))
    deps = {
        i: draw(st.lists(st.integers(0, i - 1), max_size=4, unique=True)) if i else []
        for i in range(size)
    }
    nodes = draw(st.permutations(list(range(size))))
    return nodes, deps


@settings(max_examples=100)
@given(dags())
def test_topological_order_puts_dependencies_first(
    dag: tuple[list[int], dict[int, list[int]]],
) -> None:
    nodes, deps = dag
    order = topological_order(nodes, deps)
    assert sorted(order) == sorted(nodes)
    position = {n: i for i, n in enumerate(order)}
    for node, ds in deps.items():
        for d in ds:
            assert position[d] < position[node]
    assert order == topological_order(list(nodes), {k: list(v) for k, v in deps.items()})
    assert find_cycle(nodes, deps) is None


@settings(max_examples=100)
@given(dags(), st.randoms(use_true_random=False))
def test_a_back_edge_makes_a_cycle_that_both_functions_see(
    dag: tuple[list[int], dict[int, list[int]]], rng: random.Random
) -> None:
    nodes, deps = dag
    edges = [(n, d) for n, ds in deps.items() for d in ds]
    if not edges:
        return
    node, dep = rng.choice(edges)
    deps[dep] = [*deps[dep], node]  # close the loop: dep now also needs node
    assert_closed_cycle(find_cycle(nodes, deps), deps)
    with pytest.raises(ValueError, match="cycle"):
        topological_order(nodes, deps)


def test_topological_order_ties_keep_input_order() -> None:
    assert topological_order(["c", "a", "b"], {}) == ["c", "a", "b"]
    deps = {"c": ["b"], "b": ["a"]}
    assert topological_order(["c", "a", "b", "d"], deps) == ["a", "b", "c", "d"]
    # "d" (input position 1) becomes ready once "a" is done and goes before "b" (position 3).
    assert topological_order(["c", "d", "a", "b"], {"c": ["b"], "d": ["a"]}) == [
        "a",
        "d",
        "b",
        "c",
    ]


def test_topological_order_ignores_unknown_and_self_dependencies() -> None:
    assert topological_order(["a", "b"], {"a": ["zzz", "a"], "b": ["a"]}) == ["a", "b"]
