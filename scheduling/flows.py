"""One week as a min-cost flow: people -> demand lines, with the utilization term as concave
pieces on the people's supply arcs. Used by the bound (exact relaxation) and by the
relaxation-guided construction (with continuity bonuses and pre-booked hours)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from scheduling.prepared import Assignment, Prepared

UNIT = 100  # integer arc costs in 1/100 currency


def gain_units(gain: float) -> int:
    """Gains rounded *up*, so that a flow optimum over-estimates (bounds) the true value."""
    return math.ceil(gain * UNIT - 1e-7)


def utilization_steps(prep: Prepared, p: int, w: int, start: int = 0) -> list[tuple[int, float]]:
    """Objective change of each further block of person p in week w from ``start`` blocks on, as
    (blocks, gain per block) pieces with non-increasing gains (the term is concave)."""
    weights = prep.instance.weights
    bh = prep.block_hours
    cap = prep.cap_blocks[p][w]
    target = prep.target_hours[p][w]
    pieces: list[tuple[int, float]] = []
    full = min(cap, math.floor(target / bh + 1e-9))
    if full > start:
        pieces.append((full - start, weights.under_utilization_per_hour * bh))
    k = max(full, start)
    if k == full and k < cap and target - k * bh > 1e-9:
        frac_under = target - k * bh
        pieces.append(
            (1, weights.under_utilization_per_hour * frac_under - weights.over_utilization_per_hour * (bh - frac_under))
        )
        k += 1
    if k < cap:
        pieces.append((cap - k, -weights.over_utilization_per_hour * bh))
    return pieces


def utilization_at_zero(prep: Prepared, p: int, w: int) -> float:
    return -prep.instance.weights.under_utilization_per_hour * prep.target_hours[p][w]


def week_flow(
    prep: Prepared,
    w: int,
    eligible: Mapping[int, list[int]],
    *,
    used: Mapping[tuple[int, int], int] | None = None,
    booked: Mapping[int, int] | None = None,
    bonus: Mapping[tuple[int, int], tuple[int, float]] | None = None,
    prices: dict[tuple[str, int], float] | None = None,
) -> tuple[float, Assignment]:
    """Maximise revenue - cost + utilization over week ``w`` as a flow.

    ``eligible``: line -> people; ``used``: blocks already booked per (person, week);
    ``booked``: blocks already booked per line; ``bonus``: (person, line) -> (blocks, extra gain per
    block) on the first blocks of that arc; ``prices``: when given, filled with the LP duals of the week
    as ("person", p) -> λ and ("line", d) -> μ (currency per block, see ``scheduling.lagrangian``).
    Returns (optimal gain in currency excluding the utilization value at zero hours, flows per (person,
    line))."""
    used = used or {}
    booked = booked or {}
    bonus = bonus or {}
    lines = [d for d in prep.lines_by_week[w] if prep.line_blocks[d] - booked.get(d, 0) > 0]
    people = sorted({p for d in lines for p in eligible.get(d, [])})
    if not people:
        return 0.0, {}
    pnode = {p: 2 + i for i, p in enumerate(people)}
    lnode = {d: 2 + len(people) + i for i, d in enumerate(lines)}
    tails: list[int] = []
    heads: list[int] = []
    caps: list[int] = []
    costs: list[int] = []
    keys: list[tuple[int, int]] = []
    key_arcs: list[int] = []

    def arc(t: int, h: int, cap: int, gain: int) -> None:
        tails.append(t)
        heads.append(h)
        caps.append(cap)
        costs.append(-gain)

    supply = 0
    free: dict[int, int] = {}
    for p in people:
        start = used.get((p, w), 0)
        free[p] = max(0, prep.cap_blocks[p][w] - start)
        supply += free[p]
        for blocks, gain in utilization_steps(prep, p, w, start):
            arc(0, pnode[p], blocks, gain_units(gain))
    for d in lines:
        left = prep.line_blocks[d] - booked.get(d, 0)
        for p in eligible.get(d, []):
            ub = min(left, free[p])
            if ub <= 0:
                continue
            g = gain_units(prep.block_value(p, d))
            first, extra = bonus.get((p, d), (0, 0.0))
            first = min(first, ub)
            if first > 0:
                key_arcs.append(len(tails))
                keys.append((p, d))
                arc(pnode[p], lnode[d], first, g + gain_units(extra))
            if ub - first > 0:
                key_arcs.append(len(tails))
                keys.append((p, d))
                arc(pnode[p], lnode[d], ub - first, g)
        arc(lnode[d], 1, left, 0)
    arc(0, 1, supply, 0)  # capacity left unused
    flow = min_cost_flow.SimpleMinCostFlow()
    arc_tails = np.array(tails, dtype=np.int32)
    arc_heads = np.array(heads, dtype=np.int32)
    arc_caps = np.array(caps, dtype=np.int64)
    arc_costs = np.array(costs, dtype=np.int64)
    flow.add_arcs_with_capacity_and_unit_cost(arc_tails, arc_heads, arc_caps, arc_costs)
    flow.set_node_supply(0, supply)
    flow.set_node_supply(1, -supply)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"flow of week {w} failed: {status}")
    result: Assignment = {}
    for key, f in zip(keys, flow.flows(np.array(key_arcs, dtype=np.int32)), strict=True):
        if f > 0:
            result[key] = result.get(key, 0) + int(f)
    if prices is not None:
        flows = np.asarray(flow.flows(np.arange(len(tails), dtype=np.int32)), dtype=np.int64)
        potential = _potentials(2 + len(people) + len(lines), arc_tails, arc_heads, arc_caps, arc_costs, flows)
        sink = potential[1]
        for p in people:
            prices[("person", p)] = (sink - potential[pnode[p]]) / UNIT
        for d in lines:
            prices[("line", d)] = (sink - potential[lnode[d]]) / UNIT
    return -flow.optimal_cost() / UNIT, result


def _potentials(
    n_nodes: int,
    tails: npt.NDArray[np.int32],
    heads: npt.NDArray[np.int32],
    caps: npt.NDArray[np.int64],
    costs: npt.NDArray[np.int64],
    flows: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Node potentials of an optimal flow: shortest distances in the residual graph (Bellman-Ford from a
    virtual source), so every residual arc has a non-negative reduced cost (the LP duals)."""
    forward = flows < caps
    backward = flows > 0
    t = np.concatenate([tails[forward], heads[backward]]).astype(np.int64)
    h = np.concatenate([heads[forward], tails[backward]]).astype(np.int64)
    c = np.concatenate([costs[forward], -costs[backward]]).astype(np.float64)
    dist = np.zeros(n_nodes)
    for _ in range(n_nodes):
        relaxed = dist.copy()
        np.minimum.at(relaxed, h, dist[t] + c)
        if np.array_equal(relaxed, dist):
            break
        dist = relaxed
    return dist
