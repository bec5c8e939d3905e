"""Team search: decide who is on which project in which week; the hours follow exactly.

Once the *membership* is fixed (person p works on project j in week w, at least the minimum hours),
the best hours of a week are a min-cost flow: people send blocks to the demand lines of the projects
they are members of, each membership carries at least ``min_blocks`` (a lower bound, modelled with node
supplies), and the utilization term is concave on each person's supply arcs. Churn depends on the
membership only. So the search here moves memberships and lets flows size the hours:

* **reflow**: every week's hours re-optimised for the plan's membership (exact; never worse). Members
  flex between the minimum and full hours instead of being swapped out.
* **chain moves**: for one (person, project), the best on/off pattern over all the weeks of the project
  given everything else, by dynamic programming over the weeks (two states per week, switching between
  consecutive demand weeks costs the churn weight, existing-team members missing in the first week too).
  The value of switching one week is measured by re-optimising the hours of the people around the change
  (everyone on the projects of the person and of the project, and on their other projects), with
  everyone else's hours fixed: a feasible re-plan, so it is a lower bound on the exact change and the
  search never makes the plan worse. Weeks are independent given the membership, so the moves of one
  chain add up exactly.

Moves are tried on the (person, project) pairs that cause churn, most events first, in passes, with a
full reflow between passes, until no chain improves or the deadline passes. Pins are respected (a must
pin keeps its membership; must-not pins and skill fit come from ``Prepared.eligible``), and so are the
capacity, demand, minimum-hours and projects-per-week rules (the limit is checked on memberships).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
from ortools.graph.python import min_cost_flow

from scheduling.flows import UNIT, gain_units, utilization_steps
from scheduling.greedy import utilization_value
from scheduling.prepared import Assignment, Prepared

Member = tuple[int, int]
"""(person, project) in one week."""


class _Options(NamedTuple):
    lines: list[int]
    keys: list[tuple[int, int]]
    heads: list[int]
    caps: list[int]
    costs: list[int]


class _Cache:
    """Arc data shared by the weeks: a person's lines on a project-week with their gains, utilization pieces."""

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        self._eligible = [set(people) for people in prep.eligible]
        self._options: dict[tuple[int, int, int], _Options] = {}
        # Line nodes of a week's flow network are numbered once: 2 + the line's position in its week.
        self.line_node: dict[int, int] = {}
        for lines in prep.lines_by_week:
            for i, d in enumerate(lines):
                self.line_node[d] = 2 + i
        self._steps: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
        self._gains: dict[tuple[int, int], int] = {}

    def gain(self, p: int, d: int) -> int:
        """Gain of one block of p on line d in 1/UNIT currency (rounded up, as in the flow bound)."""
        units = self._gains.get((p, d))
        if units is None:
            units = self._gains[(p, d)] = gain_units(self.prep.block_value(p, d))
        return units

    def options(self, p: int, j: int, w: int) -> _Options:
        """The lines of project j in week w that p may staff, as arcs of the week's network."""
        key = (p, j, w)
        found = self._options.get(key)
        if found is None:
            lines = [d for d in self.prep.lines_by_pw.get((j, w), ()) if p in self._eligible[d]]
            found = self._options[key] = _Options(
                lines,
                [(p, d) for d in lines],
                [self.line_node[d] for d in lines],
                [self.prep.line_blocks[d] for d in lines],
                [-self.gain(p, d) for d in lines],
            )
        return found

    def steps(self, p: int, w: int, start: int) -> list[tuple[int, int]]:
        """Utilization pieces of p in week w from ``start`` blocks on, as (blocks, gain per block in units)."""
        key = (p, w, start)
        found = self._steps.get(key)
        if found is None:
            found = self._steps[key] = [
                (blocks, gain_units(gain)) for blocks, gain in utilization_steps(self.prep, p, w, start)
            ]
        return found


class _Change(NamedTuple):
    """A cached evaluation of membership changes in a week."""

    stamp: int
    people: set[int]
    projects: set[int]
    members: dict[int, set[int]]
    value: float | None
    hours: dict[tuple[int, int], int]


class _Week:
    """Members and hours of one week."""

    def __init__(self, prep: Prepared, w: int, plan: Assignment, cache: _Cache) -> None:
        self.prep = prep
        self.w = w
        self._cache = cache
        self.members: set[Member] = set()
        self.flows: dict[tuple[int, int], int] = {}
        self.proj_of: dict[int, set[int]] = defaultdict(set)
        self.team: dict[int, set[int]] = defaultdict(set)
        self.used: dict[int, int] = defaultdict(int)
        self.booked: dict[int, int] = defaultdict(int)
        self.lines_of: dict[int, set[int]] = defaultdict(set)  # person -> lines with hours
        # Change stamps: a cached toggle stays valid while nobody in its region changed (hours or membership
        # of its people, hours on the lines of its projects).
        self._clock = 0
        self._person_stamp: dict[int, int] = {}
        self._project_stamp: dict[int, int] = {}
        self._changes: dict[tuple[Member, ...], _Change] = {}
        self.evaluations = 0
        self.hops = 1
        for (p, d), blocks in plan.items():
            if blocks > 0:
                self._add_member((p, prep.line_project[d]))
                self._set_flow(p, d, blocks)
        self.value = self.exact_value()

    # -- state ---------------------------------------------------------------------------------
    def _touch(self, p: int, j: int) -> None:
        self._clock += 1
        self._person_stamp[p] = self._project_stamp[j] = self._clock

    def _add_member(self, key: Member) -> None:
        if key not in self.members:
            self._touch(*key)
        self.members.add(key)
        self.proj_of[key[0]].add(key[1])
        self.team[key[1]].add(key[0])

    def _drop_member(self, key: Member) -> None:
        if key in self.members:
            self._touch(*key)
        self.members.discard(key)
        self.proj_of[key[0]].discard(key[1])
        self.team[key[1]].discard(key[0])

    def _set_flow(self, p: int, d: int, blocks: int) -> None:
        old = self.flows.get((p, d), 0)
        if blocks == old:
            return
        self._touch(p, self.prep.line_project[d])
        self.used[p] += blocks - old
        self.booked[d] += blocks - old
        if blocks > 0:
            self.flows[(p, d)] = blocks
            self.lines_of[p].add(d)
        else:
            self.flows.pop((p, d), None)
            self.lines_of[p].discard(d)

    def exact_value(self) -> float:
        """Revenue - cost + utilization of the week (utilization of people without hours included)."""
        prep, w = self.prep, self.w
        value = sum(blocks * prep.block_value(p, d) for (p, d), blocks in self.flows.items())
        for p, blocks in self.used.items():
            if blocks:
                value += utilization_value(prep, p, w, blocks) - utilization_value(prep, p, w, 0)
        return value

    def snapshot(self) -> tuple[set[Member], dict[tuple[int, int], int]]:
        return set(self.members), dict(self.flows)

    def restore(self, members: set[Member], flows: dict[tuple[int, int], int]) -> None:
        for key in self.members - members:
            self._drop_member(key)
        for key in members - self.members:
            self._add_member(key)
        for key in [key for key in self.flows if key not in flows]:
            self._set_flow(*key, 0)
        for (p, d), blocks in flows.items():
            self._set_flow(p, d, blocks)
        self.value = self.exact_value()

    # -- flows ---------------------------------------------------------------------------------
    def region(self, p: int, j: int) -> tuple[set[int], set[int]]:
        """(people, projects) re-planned around a change of (p, j): the members of p's projects and of j,
        and all their other projects."""
        projects = self.proj_of[p] | {j}
        people = {p}
        for _ in range(self.hops):
            for k in projects:
                people = people | self.team[k]
            for q in people:
                projects = projects | self.proj_of[q]
        return people, projects

    def solve(
        self, people: Iterable[int], projects: set[int], member_of: Callable[[int], set[int]]
    ) -> tuple[int, dict[tuple[int, int], int]] | None:
        """Best hours of ``people`` on the lines of ``projects`` (everyone else's hours fixed), with the
        memberships ``member_of(person)``: (value of those hours in 1/UNIT currency, the hours), or None
        if the memberships cannot all get their minimum."""
        prep, w, cache = self.prep, self.w, self._cache
        m = prep.min_blocks
        lines = [d for k in projects for d in prep.lines_by_pw.get((k, w), ())]
        line_node = cache.line_node
        n = 2 + len(prep.lines_by_week[w])
        tails: list[int] = []
        heads: list[int] = []
        caps: list[int] = []
        costs: list[int] = []
        keys: list[tuple[int, int]] = []
        key_arcs: list[int] = []
        supply: dict[int, int] = {0: 0, 1: 0}
        total = 0
        inside_by_line: dict[int, int] = defaultdict(int)
        for p in people:
            inside = 0
            for d in self.lines_of[p]:
                if prep.line_project[d] in projects:
                    blocks = self.flows[(p, d)]
                    inside += blocks
                    inside_by_line[d] += blocks
            start = self.used[p] - inside
            free = prep.cap_blocks[p][w] - start
            pn = n
            n += 1
            total += free
            for blocks, units in cache.steps(p, w, start):
                tails.append(0)
                heads.append(pn)
                caps.append(blocks)
                costs.append(-units)
            for k in member_of(p):
                if k not in projects:
                    continue
                options = cache.options(p, k, w)
                size = len(options.lines)
                if free < m or not size:
                    return None
                kn = n
                n += 1
                tails.append(pn)
                heads.append(kn)
                caps.append(free - m)
                costs.append(0)
                supply[pn] = supply.get(pn, 0) - m
                supply[kn] = m
                key_arcs.extend(range(len(tails), len(tails) + size))
                keys.extend(options.keys)
                tails.extend([kn] * size)
                heads.extend(options.heads)
                caps.extend(options.caps)
                costs.extend(options.costs)
        for d in lines:
            tails.append(line_node[d])
            heads.append(1)
            caps.append(prep.line_blocks[d] - (self.booked[d] - inside_by_line[d]))
            costs.append(0)
        tails.append(0)
        heads.append(1)
        caps.append(total)
        costs.append(0)
        supply[0] += total
        supply[1] -= total
        flow = min_cost_flow.SimpleMinCostFlow()
        flow.add_arcs_with_capacity_and_unit_cost(
            np.array(tails, dtype=np.int32),
            np.array(heads, dtype=np.int32),
            np.array(caps, dtype=np.int64),
            np.array(costs, dtype=np.int64),
        )
        flow.set_nodes_supplies(np.array(list(supply), dtype=np.int32), np.array(list(supply.values()), dtype=np.int64))
        if flow.solve() != flow.OPTIMAL:
            return None
        hours: dict[tuple[int, int], int] = {}
        if keys:
            for key, f in zip(keys, flow.flows(np.array(key_arcs, dtype=np.int32)), strict=True):
                if f > 0:
                    hours[key] = hours.get(key, 0) + int(f)
        return -int(flow.optimal_cost()), hours

    def region_value(
        self, people: Iterable[int], projects: set[int], hours: dict[tuple[int, int], int] | None = None
    ) -> int:
        """Value (1/UNIT currency, as the flows count it) of the hours of ``people`` on the lines of
        ``projects``: the current ones, or ``hours`` (which replace them)."""
        prep, w, cache = self.prep, self.w, self._cache
        value = 0
        inside: dict[int, int] = defaultdict(int)
        outside: dict[int, int] = {}
        for p in people:
            there = 0
            for d in self.lines_of[p]:
                if prep.line_project[d] in projects:
                    blocks = self.flows[(p, d)]
                    there += blocks
                    if hours is None:
                        inside[p] += blocks
                        value += blocks * cache.gain(p, d)
            outside[p] = self.used[p] - there
        if hours is not None:
            for (p, d), blocks in hours.items():
                inside[p] += blocks
                value += blocks * cache.gain(p, d)
        for p, start in outside.items():
            left = inside[p]
            for blocks, units in cache.steps(p, w, start):
                take = min(left, blocks)
                value += take * units
                left -= take
        return value

    def apply(
        self, people: Iterable[int], projects: set[int], members: dict[int, set[int]], hours: dict[tuple[int, int], int]
    ) -> None:
        """Replace the hours of ``people`` on the lines of ``projects`` (and their memberships in
        ``projects``) by a solution of ``solve``."""
        prep = self.prep
        for p in people:
            for d in [d for d in self.lines_of[p] if prep.line_project[d] in projects and (p, d) not in hours]:
                self._set_flow(p, d, 0)
            now = self.proj_of[p] & projects
            new = members.get(p, set()) & projects
            for k in now - new:
                self._drop_member((p, k))
            for k in new - now:
                self._add_member((p, k))
        for (p, d), blocks in hours.items():
            self._set_flow(p, d, blocks)
        self.value = self.exact_value()

    def reflow(self) -> bool:
        """Re-optimise all hours of the week for its members; False if the members are infeasible."""
        people = {p for p, _ in self.members}
        projects = {j for _, j in self.members}
        members = {p: set(self.proj_of[p]) for p in people}
        solved = self.solve(people, projects, lambda q: members[q])
        if solved is None:
            return False
        before, value = self.snapshot(), self.value
        self.apply(people, projects, members, solved[1])
        if self.value < value - 1e-6:
            self.restore(*before)  # rounding of arc gains made it worse: keep the old hours
        return True

    def change(self, flips: tuple[Member, ...]) -> tuple[float, Callable[[], None]] | None:
        """Lower bound on the change of the week's value when each (person, project) in ``flips`` joins or
        leaves, and how to apply it (None if not allowed: a must pin, the project limit, no capacity or no
        fitting line)."""
        prep, w = self.prep, self.w
        count: dict[int, int] = {}
        for p, j in flips:
            if j in self.proj_of[p]:
                if (p, j, w) in prep.must:
                    return None
                count[p] = count.get(p, len(self.proj_of[p])) - 1
            else:
                if prep.cap_blocks[p][w] < prep.min_blocks or not self._cache.options(p, j, w).lines:
                    return None
                count[p] = count.get(p, len(self.proj_of[p])) + 1
        if any(n > prep.max_projects[p] for p, n in count.items()):
            return None
        people: set[int] = set()
        projects: set[int] = set()
        for p, j in flips:
            more_people, more_projects = self.region(p, j)
            people |= more_people
            projects |= more_projects
        found = self._changes.get(flips)
        if (
            found is None
            or found.people != people
            or found.projects != projects
            or max(self._person_stamp.get(q, 0) for q in people) > found.stamp
            or max(self._project_stamp.get(k, 0) for k in projects) > found.stamp
        ):
            moved = {q: set(self.proj_of[q]) for q in people}
            for p, j in flips:
                moved[p] ^= {j}
            after = self.solve(people, projects, lambda q: moved[q])
            value = None if after is None else (after[0] - self.region_value(people, projects)) / UNIT
            found = _Change(self._clock, people, projects, moved, value, after[1] if after is not None else {})
            self._changes[flips] = found
            self.evaluations += 1
        if found.value is None:
            return None
        chosen = found

        def apply() -> None:
            self.apply(chosen.people, chosen.projects, chosen.members, chosen.hours)

        return found.value, apply


def _chain_churn(weeks: list[int], states: list[bool], existing: bool, first: int | None) -> int:
    """Churn events of one (person, project) with these on/off states over the project's weeks."""
    events = sum(1 for i in range(1, len(weeks)) if weeks[i] == weeks[i - 1] + 1 and states[i] != states[i - 1])
    if existing and weeks and weeks[0] == first and not states[0]:
        events += 1
    return events


class TeamSearch:
    """Membership search over a plan (see the module docstring)."""

    def __init__(self, prep: Prepared, plan: Assignment) -> None:
        self.prep = prep
        self.churn = prep.instance.weights.churn_per_change
        self._cache = _Cache(prep)
        by_week: list[Assignment] = [{} for _ in range(prep.n_weeks)]
        for (p, d), blocks in plan.items():
            if blocks > 0:
                by_week[prep.line_week[d]][(p, d)] = blocks
        self.weeks = [_Week(prep, w, by_week[w], self._cache) for w in range(prep.n_weeks)]
        self.runs: dict[int, list[int]] = defaultdict(list)
        for j, w in sorted(prep.lines_by_pw, key=lambda jw: (jw[0], jw[1])):
            self.runs[j].append(w)
        self.moves = 0
        self._zero = sum(utilization_value(prep, p, w, 0) for p in range(len(prep.people)) for w in range(prep.n_weeks))

    def plan(self) -> Assignment:
        result: Assignment = {}
        for week in self.weeks:
            result.update(week.flows)
        return result

    def value(self) -> float:
        """The objective of the current plan (equal to ``objective.evaluate``)."""
        return sum(week.value for week in self.weeks) + self._zero - self.churn * self.events()

    def _on(self, p: int, j: int, w: int) -> bool:
        return j in self.weeks[w].proj_of.get(p, ())

    def chain_events(self) -> dict[Member, int]:
        """Churn events per (person, project)."""
        prep = self.prep
        events: dict[Member, int] = defaultdict(int)
        for j, weeks in self.runs.items():
            for w in weeks:
                team = self.weeks[w].team.get(j, set())
                if prep.active(j, w + 1):
                    for p in team ^ self.weeks[w + 1].team.get(j, set()):
                        events[(p, j)] += 1
                if prep.first_active_week.get(j) == w:
                    for p in prep.existing[j] - team:
                        events[(p, j)] += 1
        return events

    def events(self) -> int:
        return sum(self.chain_events().values())

    def reflow(self) -> None:
        for week in self.weeks:
            week.reflow()

    def chain(self, p: int, j: int, thorough: bool = False) -> bool:
        """Apply the best on/off pattern of p on j over j's weeks if it improves the plan.

        Not every week is worth a look: leaving in the middle of a long stretch costs two changes, and
        joining goes outwards from the weeks p is on (or from the first week, for the existing team) only
        while the weeks so far have not already lost more than the two changes such a move could save."""
        weeks = self.runs[j]
        n = len(weeks)
        on = [self._on(p, j, w) for w in weeks]
        limit = -math.inf if thorough else -2.0 * self.churn
        moves: dict[int, tuple[float, Callable[[], None]] | None] = {}

        def move(i: int) -> tuple[float, Callable[[], None]] | None:
            if i not in moves:
                moves[i] = self.weeks[weeks[i]].change(((p, j),))
            return moves[i]

        def walk(indices: Iterable[int]) -> None:
            total = 0.0
            for i in indices:
                found = move(i)
                total += found[0] if found is not None else -math.inf
                if total < limit:
                    return

        linked = [i > 0 and weeks[i] == weeks[i - 1] + 1 for i in range(n)]
        starts = [i for i in range(n) if i == 0 or not linked[i] or on[i] != on[i - 1]]
        for a, b in zip(starts, [*starts[1:], n], strict=True):
            stretch = range(a, b)
            if on[a]:
                for i in stretch if b - a <= 3 or thorough else (a, b - 1):
                    move(i)
                continue
            if (
                thorough
                or (a > 0 and linked[a] and on[a - 1])
                or (weeks[a] == self.prep.first_active_week.get(j) and p in self.prep.existing[j])
            ):
                walk(stretch)
            if b < n and linked[b] and on[b]:
                walk(reversed(stretch))
        return self._improve(j, (p,), [{(not on[i],): found} if (found := moves.get(i)) else {} for i in range(n)])

    def exchange(self, a: int, b: int, j: int) -> bool:
        """Let a and b swap their on/off states on j in a stretch of weeks (one leaving where the other joins)
        if that improves the plan."""
        options: list[dict[tuple[bool, ...], tuple[float, Callable[[], None]]]] = []
        for w in self.runs[j]:
            on_a, on_b = self._on(a, j, w), self._on(b, j, w)
            found = self.weeks[w].change(((a, j), (b, j))) if on_a != on_b else None
            options.append({(on_b, on_a): found} if found is not None else {})
        return self._improve(j, (a, b), options)

    def _improve(
        self, j: int, people: tuple[int, ...], options: list[dict[tuple[bool, ...], tuple[float, Callable[[], None]]]]
    ) -> bool:
        """Best states of ``people`` on project j over its weeks, each week either the current states or one
        of ``options`` (states -> (value change of the week, how to apply it), from ``_Week.change``), by
        dynamic programming (exact churn); applied if the plan improves."""
        prep, churn = self.prep, self.churn
        weeks = self.runs[j]
        first = prep.first_active_week.get(j)
        existing = [p in prep.existing[j] for p in people]
        current = [tuple(self._on(p, j, w) for p in people) for w in weeks]
        choices: list[dict[tuple[bool, ...], tuple[float, Callable[[], None] | None]]] = []

        def penalty(i: int, state: tuple[bool, ...]) -> float:
            """Existing-team members missing in the project's first week."""
            if weeks[i] != first:
                return 0.0
            return churn * sum(1 for on, e in zip(state, existing, strict=True) if e and not on)

        for i in range(len(weeks)):
            here: dict[tuple[bool, ...], tuple[float, Callable[[], None] | None]] = {
                current[i]: (-penalty(i, current[i]), None)
            }
            for state, (change, apply) in options[i].items():
                here[state] = (change - penalty(i, state), apply)
            choices.append(here)
        value, path, now = self._best_path(weeks, current, choices)
        if value - now <= 1e-3:
            return False
        changed = [i for i, state in enumerate(path) if state != current[i]]
        saved = {weeks[i]: (self.weeks[weeks[i]].snapshot(), self.weeks[weeks[i]].value) for i in changed}
        for i in changed:
            chosen = choices[i][path[i]][1]
            assert chosen is not None
            chosen()
        # Exact change: the weeks' values and the churn of these people on j (no other membership moved).
        delta = sum(self.weeks[w].value - value for w, (_, value) in saved.items())
        for k in range(len(people)):
            before = _chain_churn(weeks, [s[k] for s in current], existing[k], first)
            after = _chain_churn(weeks, [s[k] for s in path], existing[k], first)
            delta -= churn * (after - before)
        if delta <= 1e-6:  # rounding of arc gains: keep the old plan
            for w, (snap, _) in saved.items():
                self.weeks[w].restore(*snap)
            return False
        self.moves += 1
        return True

    def _best_path(
        self,
        weeks: list[int],
        current: list[tuple[bool, ...]],
        choices: list[dict[tuple[bool, ...], tuple[float, Callable[[], None] | None]]],
    ) -> tuple[float, list[tuple[bool, ...]], float]:
        """(value, states) of the best path through ``choices`` and the value of staying as is."""
        churn = self.churn
        best = {state: (value, [state]) for state, (value, _) in choices[0].items()}
        for i in range(1, len(weeks)):
            linked = weeks[i] == weeks[i - 1] + 1
            step: dict[tuple[bool, ...], tuple[float, list[tuple[bool, ...]]]] = {}
            for state, (value, _) in choices[i].items():
                candidates = [
                    (
                        before
                        + value
                        - (churn * sum(1 for x, y in zip(prev, state, strict=True) if x != y) if linked else 0.0),
                        path,
                    )
                    for prev, (before, path) in best.items()
                ]
                top, path = max(candidates, key=lambda c: c[0])
                step[state] = (top, [*path, state])
            best = step
        value, path = max(best.values(), key=lambda b: b[0])
        now = sum(choices[i][state][0] for i, state in enumerate(current)) - churn * sum(
            sum(1 for x, y in zip(current[i - 1], current[i], strict=True) if x != y)
            for i in range(1, len(weeks))
            if weeks[i] == weeks[i - 1] + 1
        )
        return value, path, now

    def swap_pairs(self) -> list[tuple[int, int, int]]:
        """(leaver, joiner, project) at each week boundary where one leaves and another joins."""
        prep = self.prep
        pairs: set[tuple[int, int, int]] = set()
        for j, weeks in self.runs.items():
            for w in weeks:
                if not prep.active(j, w + 1):
                    continue
                now, later = self.weeks[w].team.get(j, set()), self.weeks[w + 1].team.get(j, set())
                for a in now - later:
                    for b in later - now:
                        pairs.add((a, b, j))
        return sorted(pairs)

    def run(
        self,
        deadline: float,
        halt: Callable[[], bool] | None = None,
        on_pass: Callable[[Assignment], object] | None = None,
    ) -> Assignment:
        """Reflow, then passes of chain moves until none improves or ``deadline`` (monotonic) passes;
        ``on_pass`` receives the plan after the reflow and after each pass."""
        self.reflow()
        if on_pass is not None:
            on_pass(self.plan())
        thorough = False
        for week in self.weeks:
            week.hops = 1
        for _ in range(40):
            events = self.chain_events()
            improved = False
            for key in sorted(events, key=lambda k: (-events[k], k)):
                if time.monotonic() > deadline or (halt is not None and halt()):
                    return self.plan()
                improved = self.chain(*key, thorough) or improved
            if on_pass is not None:
                on_pass(self.plan())
            if not improved:
                # Converged: re-plan the people around the people around the change too, then look at every
                # week of the chains.
                if thorough:
                    break
                if self.weeks[0].hops > 1:
                    thorough = True
                for week in self.weeks:
                    week.hops = 2
        return self.plan()
