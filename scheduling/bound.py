"""Upper bound on the objective of the full instance from a min-cost-flow relaxation.

Dropping the churn penalty (>= 0), the minimum hours, the projects-per-week limit and the must
pins (all restrictions) leaves one independent problem per week: people (capacity in blocks,
utilization penalty as a concave piecewise-linear function of their hours) send blocks to the
demand lines they are eligible for (revenue - cost per block). That is a min-cost flow, whose
optimum is integral, so its value is the exact optimum of the relaxation and a valid bound for the
instance. Gains are rounded *up* to the integer unit so the bound stays valid.

The flows (a relaxed assignment) also tell the decomposition which people matter for each line.
"""

from __future__ import annotations

from scheduling.flows import utilization_at_zero, week_flow
from scheduling.prepared import Assignment, Prepared


class BoundResult:
    def __init__(
        self,
        bound: float,
        week_bounds: list[float],
        relaxed: Assignment,
        person_prices: list[list[float]],
        line_prices: list[float],
    ) -> None:
        self.bound = bound
        self.week_bounds = week_bounds
        self.relaxed = relaxed
        self.person_prices = person_prices
        """LP duals per (person, week) and per demand line: a warm start for ``scheduling.lagrangian``."""
        self.line_prices = line_prices


def flow_bound(prep: Prepared) -> BoundResult:
    week_bounds: list[float] = []
    relaxed: Assignment = {}
    eligible = dict(enumerate(prep.eligible))
    person_prices = [[0.0] * prep.n_weeks for _ in prep.people]
    line_prices = [0.0] * len(prep.lines)
    for w in range(prep.n_weeks):
        offset = sum(utilization_at_zero(prep, p, w) for p in range(len(prep.people)))
        prices: dict[tuple[str, int], float] = {}
        value, flows = week_flow(prep, w, eligible, prices=prices)
        week_bounds.append(value + offset)
        relaxed.update(flows)
        for (kind, i), price in prices.items():
            if kind == "person":
                person_prices[i][w] = price
            else:
                line_prices[i] = price
    return BoundResult(sum(week_bounds), week_bounds, relaxed, person_prices, line_prices)
