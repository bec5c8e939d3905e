"""The CP-SAT model of (a neighbourhood of) the instance.

Variables, only for candidate (person, line) pairs, in whole blocks:
  x[p,d]    blocks of person p on demand line d          0 .. min(line, capacity)
  y[p,j,w]  person p works on project j in week w        min_blocks*y <= Σ_d x[p,d] <= M*y
  z[p,w,k]  blocks of p in week w on utilization piece k (concave: under target, the block
            holding the target, over target), Σ_k z = Σ_d x
  c[...]    churn |y[p,j,w] - y[p,j,w+1]| between consecutive demand weeks of project j
Constraints: capacity per person-week, demand per line, at most K projects per person-week,
must pins (y = 1); must-not pins and skill/level/availability are handled by the candidates.

A neighbourhood is a set of ``free`` lines; every other line of the model's weeks keeps the
allocation of ``fixed`` (its variables are fixed), and weeks outside the model enter the churn
terms as constants. The objective is the instance objective up to a constant (coefficients in
1/100 currency), so improving the model improves the plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from ortools.sat.python import cp_model

from scheduling.flows import utilization_at_zero, utilization_steps
from scheduling.prepared import Assignment, Prepared

UNIT = 100

Value = cp_model.IntVar | int


def _units(value: float) -> int:
    return round(value * UNIT)


class SubModel:
    def __init__(
        self,
        prep: Prepared,
        weeks: Iterable[int],
        candidates: dict[int, list[int]],
        fixed: Assignment,
        free: set[int] | None = None,
    ) -> None:
        """``candidates``: line -> people allowed on it (for free lines); ``fixed``: the current
        full assignment (hint for free lines, values for the others); ``free``: lines to optimise
        (default: every line of ``weeks``)."""
        self.prep = prep
        self.weeks = sorted(set(weeks))
        week_set = set(self.weeks)
        self.model = cp_model.CpModel()
        m = self.model
        churn_units = _units(prep.instance.weights.churn_per_change)
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        self.y: dict[tuple[int, int, int], cp_model.IntVar] = {}
        self.z: dict[tuple[int, int], list[tuple[cp_model.IntVar, int]]] = defaultdict(list)
        self.churn: list[tuple[cp_model.IntVar, tuple[int, int, int], tuple[int, int, int]]] = []
        objective: list[tuple[cp_model.IntVar, int]] = []
        self.rounding_slack = 0.0
        """Upper bound on |model objective - exact objective| caused by rounding coefficients."""
        const_units = 0
        churn_value = prep.instance.weights.churn_per_change

        def term(var: cp_model.IntVar, value: float, ub: int) -> None:
            units = _units(value)
            objective.append((var, units))
            self.rounding_slack += abs(value - units / UNIT) * ub

        fixed_by_line: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for (p, d), blocks in fixed.items():
            if blocks > 0:
                fixed_by_line[d].append((p, blocks))
        lines = [d for w in self.weeks for d in prep.lines_by_week[w]]
        self.free = set(lines) if free is None else {d for d in free if prep.line_week[d] in week_set}
        x_of_pjw: dict[tuple[int, int, int], list[cp_model.IntVar]] = defaultdict(list)
        x_of_pw: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
        # Person-weeks touched by the free lines; fixed allocations matter only there.
        active_pw = {(p, prep.line_week[d]) for d in self.free for p in candidates.get(d, [])}
        frozen_team: dict[tuple[int, int], set[int]] = defaultdict(set)
        for (p, d), blocks in fixed.items():
            if blocks > 0 and d not in self.free:
                frozen_team[(prep.line_project[d], prep.line_week[d])].add(p)
        for d in lines:
            j, w = prep.line_project[d], prep.line_week[d]
            row = []
            if d in self.free:
                for p in candidates.get(d, []):
                    ub = min(prep.line_blocks[d], prep.cap_blocks[p][w])
                    if ub <= 0:
                        continue
                    x = m.new_int_var(0, ub, f"x{p}_{d}")
                    row.append(x)
                    self.x[(p, d)] = x
                    x_of_pjw[(p, j, w)].append(x)
                    x_of_pw[(p, w)].append(x)
                    term(x, prep.block_value(p, d), ub)
                if len(row) > 1 or (row and row[0].proto.domain[1] > prep.line_blocks[d]):
                    m.add(sum(row) <= prep.line_blocks[d])
            else:
                for p, blocks in fixed_by_line.get(d, []):
                    if (p, w) not in active_pw:
                        continue
                    x = m.new_constant(blocks)
                    x_of_pjw[(p, j, w)].append(x)
                    x_of_pw[(p, w)].append(x)

        for (p, j, w), xs in x_of_pjw.items():
            y = m.new_bool_var(f"y{p}_{j}_{w}")
            self.y[(p, j, w)] = y
            top = min(prep.cap_blocks[p][w], sum(prep.line_blocks[d] for d in prep.lines_by_pw[(j, w)]))
            m.add(sum(xs) <= top * y)
            m.add(sum(xs) >= prep.min_blocks * y)
        for p, j, w in prep.must:
            if w in week_set:
                y_must = self.y.get((p, j, w))
                if y_must is None:
                    if p in frozen_team.get((j, w), set()):
                        continue
                    raise ValueError(f"must pin ({p}, {j}, {w}) has no candidate variable")
                m.add(y_must == 1)

        y_of_pw: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
        for (p, _j, w), y in self.y.items():
            y_of_pw[(p, w)].append(y)
        for (p, w), xs in x_of_pw.items():
            m.add(sum(xs) <= prep.cap_blocks[p][w])
            ys = y_of_pw[(p, w)]
            if len(ys) > prep.max_projects[p]:
                m.add(sum(ys) <= prep.max_projects[p])
            pieces = []
            for k, (blocks, gain) in enumerate(utilization_steps(prep, p, w)):
                z = m.new_int_var(0, blocks, f"z{p}_{w}_{k}")
                pieces.append(z)
                self.z[(p, w)].append((z, blocks))
                term(z, gain, blocks)
            m.add(sum(pieces) == sum(xs))

        # Churn between consecutive demand weeks of a project (and existing team -> first week).
        y_index: dict[tuple[int, int], set[int]] = defaultdict(set)
        for p, j, w in self.y:
            y_index[(j, w)].add(p)

        def team_value(p: int, j: int, w: int) -> Value:
            y = self.y.get((p, j, w))
            if y is not None:
                return y
            return 1 if p in frozen_team.get((j, w), set()) else 0

        def people_at(j: int, w: int) -> set[int]:
            return y_index.get((j, w), set()) | frozen_team.get((j, w), set())

        for j, w in prep.lines_by_pw:
            if w in week_set and prep.first_active_week[j] == w:
                for p in prep.existing[j]:
                    after = team_value(p, j, w)
                    # dropping an existing member costs churn
                    if isinstance(after, int):
                        const_units -= churn_units * (1 - after)
                    else:
                        term(after, churn_value, 1)
                        const_units -= churn_units
            if not prep.active(j, w + 1) or not (y_index.get((j, w)) or y_index.get((j, w + 1))):
                continue
            for p in people_at(j, w) | people_at(j, w + 1):
                a, b = team_value(p, j, w), team_value(p, j, w + 1)
                if isinstance(a, int) and isinstance(b, int):
                    const_units -= churn_units * abs(a - b)
                elif isinstance(a, int) or isinstance(b, int):
                    const, var = (a, b) if isinstance(a, int) else (b, a)
                    assert isinstance(var, cp_model.IntVar)
                    if const == 1:
                        term(var, churn_value, 1)
                        const_units -= churn_units
                    else:
                        term(var, -churn_value, 1)
                else:
                    c = m.new_bool_var(f"c{p}_{j}_{w}")
                    m.add(c >= a - b)
                    m.add(c >= b - a)
                    self.churn.append((c, (p, j, w), (p, j, w + 1)))
                    term(c, -churn_value, 1)
        self.full = self.free == set(range(len(prep.lines))) and len(self.weeks) == prep.n_weeks
        if self.full:
            # The whole instance: add the constants so that the model objective (and CP-SAT's bound)
            # is the instance objective (up to ``rounding_slack``).
            for p in range(len(prep.people)):
                for w in range(prep.n_weeks):
                    value = utilization_at_zero(prep, p, w)
                    const_units += _units(value)
                    self.rounding_slack += abs(value - _units(value) / UNIT)
        self.constant = const_units / UNIT
        m.maximize(sum(coef * var for var, coef in objective) + const_units)
        self._hint(fixed)

    def _hint(self, fixed: Assignment) -> None:
        """A complete hint from ``fixed`` (feasible when ``fixed`` only uses candidate pairs)."""
        m = self.model
        prep = self.prep
        on: set[tuple[int, int, int]] = set()
        used: dict[tuple[int, int], int] = defaultdict(int)
        week_set = set(self.weeks)
        for (p, d), blocks in fixed.items():
            w = prep.line_week[d]
            if blocks > 0 and w in week_set:
                on.add((p, prep.line_project[d], w))
                used[(p, w)] += blocks
        for key, x in self.x.items():
            m.add_hint(x, fixed.get(key, 0))
        for y_key, y in self.y.items():
            m.add_hint(y, y_key in on)
        for (p, w), pieces in self.z.items():
            left = used[(p, w)]
            for z, blocks in pieces:
                take = min(left, blocks)
                m.add_hint(z, take)
                left -= take
        for c, a, b in self.churn:
            m.add_hint(c, (a in on) != (b in on))

    @property
    def num_variables(self) -> int:
        return len(self.model.proto.variables)

    def extract(self, solver: cp_model.CpSolver | cp_model.CpSolverSolutionCallback, base: Assignment) -> Assignment:
        """``base`` with the free lines replaced by the model's values."""
        result = {key: v for key, v in base.items() if key[1] not in self.free}
        for key, x in self.x.items():
            value = int(solver.value(x))
            if value > 0:
                result[key] = value
        return result
