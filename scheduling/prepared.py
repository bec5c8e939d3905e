"""The instance compiled to integer indices and whole blocks, shared by greedy, bound and model.

Exact pruning only happens here: a person is *eligible* for a demand line when they fit the
skill and level (or are the named person), have room for the minimum hours that week, and no
must-not pin forbids the project. Heuristic pruning for large instances lives in
``scheduling.candidates``.
"""

from __future__ import annotations

import math
from collections import defaultdict

from scheduling.calendar import weekly_capacity
from scheduling.instance import Demand, Instance, Person, Project

Assignment = dict[tuple[int, int], int]
"""(person index, demand-line index) -> allocated blocks (> 0)."""

EPS = 1e-9


def fits(person: Person, line: Demand) -> bool:
    """Skill and level fit (or the named person)."""
    if line.person_id is not None:
        return person.id == line.person_id
    assert line.skill is not None
    return person.skills.get(line.skill, 0) >= line.min_level


class Prepared:
    """Integer view of an instance. Indices: ``p`` people, ``j`` projects, ``d`` demand lines."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        rules, weights = instance.rules, instance.weights
        self.n_weeks = instance.weeks
        self.block_hours = rules.block_hours
        self.min_blocks = max(1, math.ceil(rules.min_hours / rules.block_hours - EPS))
        self.people = list(instance.people)
        self.projects = list(instance.projects)
        self.lines = list(instance.demand)
        self.person_index = {p.id: i for i, p in enumerate(self.people)}
        self.project_index = {p.id: i for i, p in enumerate(self.projects)}
        self.line_index = {d.id: i for i, d in enumerate(self.lines)}

        self.cap_hours: list[list[float]] = [weekly_capacity(instance, p) for p in self.people]
        self.cap_blocks: list[list[int]] = [
            [math.floor(h / self.block_hours + EPS) for h in row] for row in self.cap_hours
        ]
        self.target_hours: list[list[float]] = [
            [p.utilization_target * h for h in row] for p, row in zip(self.people, self.cap_hours, strict=True)
        ]
        self.max_projects: list[int] = [
            min(rules.max_projects_per_week, p.max_concurrent_projects)
            if p.max_concurrent_projects is not None
            else rules.max_projects_per_week
            for p in self.people
        ]
        self.cost_per_hour: list[float] = [weights.cost * p.cost_rate for p in self.people]

        self.line_project: list[int] = [self.project_index[d.project_id] for d in self.lines]
        self.line_week: list[int] = [d.week for d in self.lines]
        self.line_blocks: list[int] = [round(d.hours / self.block_hours) for d in self.lines]
        self.project_value: list[float] = [
            weights.revenue
            * pr.bill_rate
            * weights.priority_multipliers[pr.priority]
            * (pr.probability if pr.tentative else 1.0)
            for pr in self.projects
        ]
        self.line_value: list[float] = [
            self._line_value(d, self.projects[j])
            if d.value_per_hour is not None or d.required
            else self.project_value[j]
            for d, j in zip(self.lines, self.line_project, strict=True)
        ]

        self.lines_by_pw: dict[tuple[int, int], list[int]] = defaultdict(list)
        self.lines_by_week: list[list[int]] = [[] for _ in range(self.n_weeks)]
        for d, (j, w) in enumerate(zip(self.line_project, self.line_week, strict=True)):
            self.lines_by_pw[(j, w)].append(d)
            self.lines_by_week[w].append(d)
        self.first_active_week: dict[int, int] = {}
        for j, w in sorted(self.lines_by_pw, key=lambda jw: jw[1]):
            self.first_active_week.setdefault(j, w)
        self.existing: list[frozenset[int]] = [
            frozenset(self.person_index[pid] for pid in pr.existing_team) for pr in self.projects
        ]

        # Fit by skill/level only (needed to explain unmet demand).
        by_skill: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, person in enumerate(self.people):
            for skill, level in person.skills.items():
                by_skill[skill].append((level, i))
        self.qualified: list[list[int]] = []
        for line in self.lines:
            if line.person_id is not None:
                self.qualified.append([self.person_index[line.person_id]])
            else:
                assert line.skill is not None
                self.qualified.append(sorted(i for level, i in by_skill.get(line.skill, []) if level >= line.min_level))

        # Pins are resolved by scheduling.pins; until then nothing is pinned.
        self.must_not: set[tuple[int, int, int]] = set()
        """(person, project, week) that may not be staffed."""
        self.must: set[tuple[int, int, int]] = set()
        """(person, project, week) that must get at least the minimum hours (feasible pins only)."""
        self.eligible: list[list[int]] = []
        self.refresh_eligibility()

    def _line_value(self, line: Demand, project: Project) -> float:
        """Value per staffed hour of a line with its own ``value_per_hour`` or ``required`` flag."""
        weights = self.instance.weights
        rate = project.bill_rate if line.value_per_hour is None else line.value_per_hour
        probability = project.probability if project.tentative else 1.0
        value = rate * weights.priority_multipliers[project.priority] * probability
        return weights.revenue * (value + (weights.required_per_hour if line.required else 0.0))

    def refresh_eligibility(self) -> None:
        """Recompute eligible people per line (after pins changed)."""
        self.eligible = []
        for d, quals in enumerate(self.qualified):
            j, w = self.line_project[d], self.line_week[d]
            self.eligible.append(
                [
                    p
                    for p in quals
                    if self.cap_blocks[p][w] >= self.min_blocks
                    and self.max_projects[p] >= 1
                    and (p, j, w) not in self.must_not
                ]
            )

    def active(self, j: int, w: int) -> bool:
        return (j, w) in self.lines_by_pw

    def block_value(self, p: int, d: int) -> float:
        """Revenue minus cost of one block of person p on line d (before utilization effects)."""
        return (self.line_value[d] - self.cost_per_hour[p]) * self.block_hours
