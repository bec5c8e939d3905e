"""Neighbourhoods for decomposed solving of large instances.

The first pass walks the horizon in week windows (so a complete model plan exists quickly);
afterwards windows at random offsets alternate with skill-cluster neighbourhoods (all lines of a
few skills, over as many weeks as fit the size budget), which can move people between projects
across weeks and so reduce churn. Each neighbourhood is re-optimised by CP-SAT with the rest of
the plan fixed (large neighbourhood search); a change is kept only if the whole plan improves.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import msgspec

from scheduling.prepared import Prepared


class Neighbourhood(msgspec.Struct, frozen=True):
    label: str
    weeks: list[int]
    free: frozenset[int]


def _window(prep: Prepared, weeks: list[int], label: str) -> Neighbourhood:
    return Neighbourhood(label=label, weeks=weeks, free=frozenset(d for w in weeks for d in prep.lines_by_week[w]))


def _pairs(candidates: dict[int, list[int]], lines: frozenset[int] | set[int]) -> int:
    return sum(len(candidates.get(d, [])) for d in lines)


def window_size(prep: Prepared, candidates: dict[int, list[int]], target_pairs: int) -> int:
    per_week = max(1, _pairs(candidates, set(candidates)) // max(1, prep.n_weeks))
    return max(1, min(prep.n_weeks, target_pairs // per_week))


def first_pass(prep: Prepared, candidates: dict[int, list[int]], target_pairs: int) -> list[Neighbourhood]:
    size = window_size(prep, candidates, target_pairs)
    return [
        _window(prep, list(range(w, min(prep.n_weeks, w + size))), f"weeks {w}-{min(prep.n_weeks, w + size) - 1}")
        for w in range(0, prep.n_weeks, size)
    ]


def neighbourhoods(
    prep: Prepared, candidates: dict[int, list[int]], target_pairs: int, seed: int
) -> Iterator[Neighbourhood]:
    """First pass of windows, then an endless mix of shifted windows and skill clusters."""
    yield from first_pass(prep, candidates, target_pairs)
    rng = random.Random(seed)
    size = window_size(prep, candidates, target_pairs)
    skills = sorted({line.skill for line in prep.lines if line.skill is not None})
    by_skill: dict[str, list[int]] = {s: [] for s in skills}
    for d, line in enumerate(prep.lines):
        if line.skill is not None:
            by_skill[line.skill].append(d)
    k = 0
    while True:
        k += 1
        if k % 2 == 1 or not skills:
            start = rng.randrange(prep.n_weeks)
            weeks = list(range(start, min(prep.n_weeks, start + size)))
            yield _window(prep, weeks, f"weeks {weeks[0]}-{weeks[-1]}")
            continue
        order = skills[:]
        rng.shuffle(order)
        chosen: list[str] = []
        lines: set[int] = set()
        for skill in order:
            extra = set(by_skill[skill])
            if chosen and _pairs(candidates, lines | extra) > target_pairs:
                break
            chosen.append(skill)
            lines |= extra
        span = prep.n_weeks
        while span > 1 and _pairs(candidates, {d for d in lines if prep.line_week[d] < span}) > target_pairs:
            span = (span + 1) // 2
        start = rng.randrange(prep.n_weeks - span + 1)
        weeks = list(range(start, start + span))
        week_set = set(weeks)
        free = frozenset(d for d in lines if prep.line_week[d] in week_set)
        yield Neighbourhood(label=f"skills {'+'.join(chosen)} weeks {weeks[0]}-{weeks[-1]}", weeks=weeks, free=free)
