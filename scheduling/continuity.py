"""Continuity search: remove churn with multi-week moves that week-by-week polishing cannot make.

A plan polished week by week is a local optimum for changes of one week at a time, yet most of its churn
is avoidable: a person who leaves a project can often stay on it with the minimum hours for the rest of
its run (or a stretch of it), keeping a foot in while working mostly elsewhere, and a person who joins can
often join earlier. Each such change is worse in any single week and better over the stretch, so it is
made as one move here:

* **stay**: a person leaving project j after week w keeps ``min`` hours on j from w+1 through week e (for
  every e of the project's run), taking unstaffed demand first, then blocks of newcomers on the line;
  their own hours elsewhere make room (lowest-value work first, dropping a project that falls below the
  minimum);
* **arrive early**: the mirror image for a person joining j in week w+1, back to week s.

Moves are evaluated exactly and incrementally (revenue, cost, utilization of the touched person-weeks,
churn of the touched (person, project) transitions) and applied only if feasible (capacity, demand,
minimum hours, project limit, must pins) and improving. The search never makes the plan worse.
"""

from __future__ import annotations

import time
from collections import defaultdict

from scheduling.greedy import utilization_value
from scheduling.prepared import Assignment, Prepared

Change = dict[tuple[int, int], int]
"""(person, line) -> new blocks (0 removes the allocation)."""


class _State:
    def __init__(self, prep: Prepared, plan: Assignment) -> None:
        self.prep = prep
        self.plan: Assignment = {k: v for k, v in plan.items() if v > 0}
        self.used: dict[tuple[int, int], int] = defaultdict(int)
        self.booked: dict[int, int] = defaultdict(int)
        self.on: dict[tuple[int, int, int], int] = defaultdict(int)  # (p, j, w) -> blocks
        self.by_pw: dict[tuple[int, int], set[int]] = defaultdict(set)  # (p, w) -> lines
        self.by_line: dict[int, set[int]] = defaultdict(set)  # line -> people
        for (p, d), blocks in self.plan.items():
            self._add(p, d, blocks)

    def _add(self, p: int, d: int, blocks: int) -> None:
        prep = self.prep
        w, j = prep.line_week[d], prep.line_project[d]
        self.used[(p, w)] += blocks
        self.booked[d] += blocks
        self.on[(p, j, w)] += blocks
        if blocks > 0:
            self.by_pw[(p, w)].add(d)
            self.by_line[d].add(p)

    def apply(self, change: Change) -> None:
        for (p, d), new in change.items():
            old = self.plan.get((p, d), 0)
            self._add(p, d, new - old)
            if new > 0:
                self.plan[(p, d)] = new
            else:
                self.plan.pop((p, d), None)
                self.by_pw[(p, self.prep.line_week[d])].discard(d)
                self.by_line[d].discard(p)

    def member(self, p: int, j: int, w: int) -> bool:
        return self.on.get((p, j, w), 0) > 0

    def delta(self, change: Change) -> float | None:
        """Objective change of ``change`` (None if it breaks a rule)."""
        prep = self.prep
        churn = prep.instance.weights.churn_per_change
        value = 0.0
        used: dict[tuple[int, int], int] = {}
        booked: dict[int, int] = {}
        on: dict[tuple[int, int, int], int] = {}
        for (p, d), new in change.items():
            old = self.plan.get((p, d), 0)
            if new == old:
                continue
            if new > 0 and p not in prep.eligible[d]:
                return None
            w, j = prep.line_week[d], prep.line_project[d]
            value += (new - old) * prep.block_value(p, d)
            used[(p, w)] = used.get((p, w), self.used.get((p, w), 0)) + new - old
            booked[d] = booked.get(d, self.booked.get(d, 0)) + new - old
            on[(p, j, w)] = on.get((p, j, w), self.on.get((p, j, w), 0)) + new - old
        for (p, w), blocks in used.items():
            if blocks > prep.cap_blocks[p][w]:
                return None
            value += utilization_value(prep, p, w, blocks) - utilization_value(prep, p, w, self.used.get((p, w), 0))
        for d, blocks in booked.items():
            if blocks > prep.line_blocks[d]:
                return None
        touched_pw: set[tuple[int, int]] = set()
        for (p, j, w), blocks in on.items():
            if 0 < blocks < prep.min_blocks:
                return None
            if blocks == 0 and (p, j, w) in prep.must:
                return None
            if (blocks > 0) != (self.on.get((p, j, w), 0) > 0):
                touched_pw.add((p, w))
        for p, w in touched_pw:
            projects = {prep.line_project[d] for d in self.by_pw.get((p, w), set())}
            for (q, j, ww), blocks in on.items():
                if q == p and ww == w:
                    if blocks > 0:
                        projects.add(j)
                    else:
                        projects.discard(j)
            if len(projects) > prep.max_projects[p]:
                return None

        def is_on(p: int, j: int, w: int) -> bool:
            return on.get((p, j, w), self.on.get((p, j, w), 0)) > 0

        events_before = events_after = 0
        transitions: set[tuple[int, int, int]] = set()  # (p, j, w): between w and w+1
        firsts: set[tuple[int, int]] = set()
        for p, j, w in on:
            if prep.active(j, w - 1):
                transitions.add((p, j, w - 1))
            if prep.active(j, w + 1):
                transitions.add((p, j, w))
            if prep.first_active_week.get(j) == w and p in prep.existing[j]:
                firsts.add((p, j))
        for p, j, w in transitions:
            events_before += self.member(p, j, w) != self.member(p, j, w + 1)
            events_after += is_on(p, j, w) != is_on(p, j, w + 1)
        for p, j in firsts:
            w = prep.first_active_week[j]
            events_before += not self.member(p, j, w)
            events_after += not is_on(p, j, w)
        return value - churn * (events_after - events_before)


def _week_move(state: _State, change: Change, p: int, j: int, w: int, need: int) -> bool:
    """Extend ``change`` so that p works ``need`` blocks on project j in week w; False if impossible."""
    prep = state.prep
    lines = [d for d in prep.lines_by_pw.get((j, w), []) if p in prep.eligible[d]]
    if not lines or prep.cap_blocks[p][w] < need:
        return False

    def current(q: int, d: int) -> int:
        return change.get((q, d), state.plan.get((q, d), 0))

    def newcomers(line: int) -> int:
        return sum(current(q, line) for q in state.by_line.get(line, set()) if q != p and not state.member(q, j, w - 1))

    # The line where p displaces newcomers (whose joining is churn too), else p's most valuable one.
    d = max(lines, key=lambda line: (min(newcomers(line), need), prep.block_value(p, line)))
    displaced: list[tuple[int, int]] = []  # people whose blocks p takes over (may take p's work instead)
    take = need
    free = prep.line_blocks[d] - sum(current(q, d) for q in state.by_line.get(d, set()) | {p})
    take -= min(take, max(0, free))
    if take > 0:
        # Blocks from others on the line: newcomers (not on j the week before) and the most expensive first.
        others = sorted(
            (q for q in state.by_line.get(d, set()) if q != p and current(q, d) > 0),
            key=lambda q: (state.member(q, j, w - 1), -prep.cost_per_hour[q]),
        )
        for q in others:
            if take <= 0:
                break
            have = current(q, d)
            on_project = sum(current(q, dd) for dd in prep.lines_by_pw[(j, w)])
            give = min(have, take)
            if 0 < on_project - give < prep.min_blocks:
                give = have if on_project - have == 0 else give
                if 0 < on_project - give < prep.min_blocks:
                    continue
            change[(q, d)] = have - give
            displaced.append((q, give))
            take -= give
        if take > 0:
            return False
    change[(p, d)] = current(p, d) + need
    # Room in p's week: lowest-value work elsewhere gives way (whole projects below the minimum go).
    over = sum(current(p, dd) for dd in state.by_pw.get((p, w), set()) | {d}) - prep.cap_blocks[p][w]
    if over > 0:
        elsewhere = sorted(
            (dd for dd in state.by_pw.get((p, w), set()) if prep.line_project[dd] != j and current(p, dd) > 0),
            key=lambda dd: prep.block_value(p, dd),
        )
        for dd in elsewhere:
            if over <= 0:
                break
            cut = min(over, current(p, dd))
            change[(p, dd)] = current(p, dd) - cut
            over -= cut
            k = prep.line_project[dd]
            # A swap: whoever p displaced on j may take over the work p leaves on k.
            for q, freed in displaced:
                if cut <= 0 or q not in prep.eligible[dd] or freed <= 0:
                    continue
                q_total = sum(current(q, x) for x in state.by_pw.get((q, w), set()) | {dd})
                room = min(freed, prep.cap_blocks[q][w] - q_total, cut)
                if room <= 0:
                    continue
                on_k = sum(current(q, x) for x in prep.lines_by_pw[(k, w)])
                if on_k + room < prep.min_blocks:
                    continue
                change[(q, dd)] = current(q, dd) + room
                cut -= room
            rest = sum(current(p, x) for x in prep.lines_by_pw[(k, w)])
            if 0 < rest < prep.min_blocks:
                for x in prep.lines_by_pw[(k, w)]:
                    if current(p, x) > 0:
                        change[(p, x)] = 0
        if over > 0:
            return False
    return True


def _run_of(prep: Prepared, j: int, w: int, step: int) -> list[int]:
    """Consecutive demand weeks of project j from w (inclusive) in direction ``step``."""
    weeks = []
    while prep.active(j, w):
        weeks.append(w)
        w += step
    return weeks


def improve_continuity(prep: Prepared, plan: Assignment, deadline: float, max_span: int = 8) -> Assignment:
    """Apply improving stay / arrive-early moves until none is left or ``deadline`` (monotonic) passes."""
    state = _State(prep, plan)
    for _ in range(4):
        improved = False
        events: list[tuple[int, int, int, int]] = []  # (person, project, first week to fill, direction)
        for (p, j, w), blocks in list(state.on.items()):
            if blocks <= 0:
                continue
            if prep.active(j, w + 1) and not state.member(p, j, w + 1):
                events.append((p, j, w + 1, +1))
            if prep.active(j, w - 1) and not state.member(p, j, w - 1):
                events.append((p, j, w - 1, -1))
        for j, first in prep.first_active_week.items():
            for p in prep.existing[j]:
                if not state.member(p, j, first):
                    events.append((p, j, first, +1))
        for p, j, start, step in events:
            if time.monotonic() > deadline:
                return state.plan
            existing = start == prep.first_active_week.get(j) and step > 0 and p in prep.existing[j]
            if state.member(p, j, start) or not (existing or state.member(p, j, start - step)):
                continue  # changed by an earlier move
            before = state.on.get((p, j, start - step), 0)
            best: tuple[float, Change] | None = None
            for need in sorted({prep.min_blocks, max(prep.min_blocks, before)}):
                change: Change = {}
                for week in _run_of(prep, j, start, step)[:max_span]:
                    if state.member(p, j, week) or not _week_move(state, change, p, j, week, need):
                        break
                    gain = state.delta(change)
                    if gain is None:
                        break
                    if gain > 1e-6 and (best is None or gain > best[0]):
                        best = (gain, dict(change))
            if best is not None:
                state.apply(best[1])
                improved = True
        improved = _drop_stints(state, deadline) or improved
        if not improved:
            break
    return state.plan


def _drop_stints(state: _State, deadline: float, max_len: int = 3) -> bool:
    """Remove short stints (joined and left again within ``max_len`` weeks); the freed blocks go to people
    already on the project that week with room to spare, best value first. True if a stint was removed."""
    prep = state.prep
    improved = False
    stints: list[tuple[int, int, list[int]]] = []
    for (p, j, w), blocks in list(state.on.items()):
        if blocks <= 0 or not prep.active(j, w - 1) or state.member(p, j, w - 1):
            continue
        if prep.first_active_week.get(j) == w:
            continue
        weeks: list[int] = []
        u = w
        while prep.active(j, u) and state.member(p, j, u) and len(weeks) <= max_len:
            weeks.append(u)
            u += 1
        if len(weeks) <= max_len and prep.active(j, u):
            stints.append((p, j, weeks))
    for p, j, weeks in stints:
        if time.monotonic() > deadline:
            break
        if not all(state.member(p, j, w) for w in weeks):
            continue
        change: Change = {}
        for w in weeks:
            for d in prep.lines_by_pw[(j, w)]:
                freed = state.plan.get((p, d), 0)
                if not freed:
                    continue
                change[(p, d)] = 0
                takers = sorted(
                    (q for q in prep.eligible[d] if q != p and state.member(q, j, w)),
                    key=lambda q: -prep.block_value(q, d),
                )
                for q in takers:
                    room = (
                        prep.cap_blocks[q][w]
                        - state.used.get((q, w), 0)
                        - sum(
                            change.get((q, x), state.plan.get((q, x), 0)) - state.plan.get((q, x), 0)
                            for x in state.by_pw.get((q, w), set()) | {d}
                        )
                    )
                    give = min(room, freed)
                    if give > 0:
                        change[(q, d)] = change.get((q, d), state.plan.get((q, d), 0)) + give
                        freed -= give
                    if freed <= 0:
                        break
        gain = state.delta(change)
        if gain is not None and gain > 1e-6:
            state.apply(change)
            improved = True
    return improved
