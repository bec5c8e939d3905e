"""Heuristic variable pruning for decomposed (large) instances.

For each demand line keep: the people the current plans use on it, the people the flow
relaxation sends to it, people already on the project in any week (continuity), the pinned
people, and the ``n_cheapest`` cheapest eligible people. Everything else is left out of the
sub-models (the bound never uses this pruning, so the reported gap stays honest).
"""

from __future__ import annotations

from collections import defaultdict

from scheduling.prepared import Assignment, Prepared


def select_candidates(
    prep: Prepared, n_cheapest: int, plans: list[Assignment], team_plan: Assignment | None = None
) -> dict[int, list[int]]:
    """``plans`` contribute their (person, line) pairs; ``team_plan`` (the best plan) also makes
    everyone it has on a project a candidate for all of that project's lines."""
    chosen: dict[int, set[int]] = defaultdict(set)
    on_project: dict[int, set[int]] = defaultdict(set)
    for plan in plans:
        for p, d in plan:
            chosen[d].add(p)
    for p, d in team_plan or {}:
        chosen[d].add(p)
        on_project[prep.line_project[d]].add(p)
    for p, j, w in prep.must:
        for d in prep.lines_by_pw.get((j, w), []):
            chosen[d].add(p)
    result: dict[int, list[int]] = {}
    for d, eligible in enumerate(prep.eligible):
        allowed = set(eligible)
        j = prep.line_project[d]
        keep = (chosen[d] | (on_project[j] | prep.existing[j])) & allowed
        cheapest = sorted(eligible, key=lambda p: (prep.cost_per_hour[p], p))[:n_cheapest]
        result[d] = sorted(keep | set(cheapest))
    return result
