"""Dependency graphs over resource ids: cycle detection and layered topological order."""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

Node = TypeVar("Node", bound=Hashable)


def find_cycle(nodes: Iterable[Node], deps: Mapping[Node, Iterable[Node]]) -> list[Node] | None:
    """Return one cycle as [a, b, ..., a] or None. Iterative: 10,000-node graphs are common."""
    white, grey, black = 0, 1, 2
    colour: dict[Node, int] = {}
    for start in nodes:
        if colour.get(start, white) != white:
            continue
        stack: list[tuple[Node, list[Node]]] = [(start, list(deps.get(start, ())))]
        colour[start] = grey
        path = [start]
        while stack:
            node, pending = stack[-1]
            if not pending:
                colour[node] = black
                stack.pop()
                path.pop()
                continue
            nxt = pending.pop()
            state = colour.get(nxt, white)
            if state == grey:
                return [*path[path.index(nxt) :], nxt]
            if state == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append((nxt, list(deps.get(nxt, ()))))
    return None


def topological_order(nodes: Iterable[Node], deps: Mapping[Node, Iterable[Node]]) -> list[Node]:
    """Dependencies first; ties keep the input order so output is deterministic."""
    ordered = list(nodes)
    present = set(ordered)
    remaining = {n: {d for d in deps.get(n, ()) if d in present and d != n} for n in ordered}
    dependents: dict[Node, list[Node]] = {n: [] for n in ordered}
    for node, ds in remaining.items():
        for d in ds:
            dependents[d].append(node)
    position = {n: i for i, n in enumerate(ordered)}
    heap = [(position[n], n) for n in ordered if not remaining[n]]
    heapq.heapify(heap)
    out: list[Node] = []
    while heap:
        _, node = heapq.heappop(heap)
        out.append(node)
        for child in dependents[node]:
            remaining[child].discard(node)
            if not remaining[child]:
                heapq.heappush(heap, (position[child], child))
    if len(out) != len(ordered):
        raise ValueError("dependency cycle")
    return out
