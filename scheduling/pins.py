"""Pins: expand to (person, project, week) atoms, find the must pins that cannot hold, and report
them as conflicts (the plan is then solved without them) instead of failing the whole solve.

Static reasons are checked first (contradicting must-not pin, no demand that week, no fitting
demand line, no capacity). Joint conflicts (several must pins on one person-week exceeding the
capacity or project limit, or on one project-week exceeding its demand) are found with a small
CP-SAT model over the pinned atoms only: the largest set of pins that can hold together is kept
(so the fewest are dropped, earlier pins winning ties), and each dropped pin is reported with a
minimal set of kept pins it conflicts with, by name, and the rule the numbers really break.
"""

from __future__ import annotations

from collections import defaultdict

from ortools.sat.python import cp_model

from scheduling.plan import PinConflict
from scheduling.prepared import Assignment, Prepared

Atom = tuple[int, int, int]


def _expand(prep: Prepared) -> tuple[dict[Atom, list[int]], dict[Atom, list[int]]]:
    must: dict[Atom, list[int]] = defaultdict(list)
    must_not: dict[Atom, list[int]] = defaultdict(list)
    weeks_of: dict[int, list[int]] = defaultdict(list)
    for j, w in sorted(prep.lines_by_pw):
        weeks_of[j].append(w)
    for i, pin in enumerate(prep.instance.pins):
        p = prep.person_index[pin.person_id]
        j = prep.project_index[pin.project_id]
        if pin.weeks is not None:
            weeks = list(pin.weeks)
        elif pin.kind == "must_not":
            weeks = list(range(prep.n_weeks))
        else:
            weeks = weeks_of[j]
        target = must if pin.kind == "must" else must_not
        for w in weeks:
            target[(p, j, w)].append(i)
    return must, must_not


def _fitting_lines(prep: Prepared, atom: Atom) -> list[int]:
    p, j, w = atom
    return [d for d in prep.lines_by_pw.get((j, w), []) if p in prep.qualified[d]]


def _static_reason(prep: Prepared, atom: Atom, must_not: dict[Atom, list[int]]) -> str | None:
    p, j, w = atom
    person, project = prep.people[p], prep.projects[j]
    if atom in must_not:
        return f"contradicts must-not pin(s) #{', #'.join(map(str, must_not[atom]))}"
    if not prep.active(j, w):
        return f"{project.id} has no demand in week {w}"
    if not _fitting_lines(prep, atom):
        return f"{person.id} fits none of {project.id}'s demand lines in week {w} (skill/level or named person)"
    if prep.cap_blocks[p][w] < prep.min_blocks or prep.max_projects[p] < 1:
        return (
            f"{person.id} has only {prep.cap_hours[p][w]:g} h available in week {w} (time off or holidays), "
            f"below the {prep.min_blocks * prep.block_hours:g} h minimum"
        )
    return None


def _pin_label(prep: Prepared, i: int) -> str:
    pin = prep.instance.pins[i]
    person = prep.people[prep.person_index[pin.person_id]]
    project = prep.projects[prep.project_index[pin.project_id]]
    return f"#{i} ({person.name or person.id} on {project.name or project.id})"


def _joint_reason(prep: Prepared, dropped: Atom, core: list[Atom], pins_of: dict[Atom, list[int]]) -> str:
    """Why ``dropped`` cannot hold beside the other pins of ``core`` (a minimal conflicting set): the
    first rule the numbers really break, never one that the hours would satisfy."""
    p, j, w = dropped
    bh = prep.block_hours
    same_person = [a for a in core if a[0] == p and a[2] == w]
    same_project = [a for a in core if a[1] == j and a[2] == w]
    others = sorted({i for a in core if a != dropped for i in pins_of[a]})
    person = prep.people[p].name or prep.people[p].id
    project = prep.projects[j].name or prep.projects[j].id
    minimum = prep.min_blocks * bh
    demand_blocks = sum(prep.line_blocks[d] for d in prep.lines_by_pw.get((j, w), []))
    if len(same_person) > prep.max_projects[p]:
        why = f"{person} would be pinned to {len(same_person)} projects in week {w} (limit {prep.max_projects[p]})"
    elif len(same_person) > 1 and len(same_person) * prep.min_blocks > prep.cap_blocks[p][w]:
        why = (
            f"{person} cannot give {len(same_person)} pinned projects the {minimum:g} h minimum each "
            f"({len(same_person) * minimum:g} h) with {prep.cap_hours[p][w]:g} h available in week {w}"
        )
    elif len(same_project) > 1 and len(same_project) * prep.min_blocks > demand_blocks:
        why = (
            f"{project}'s week-{w} demand ({demand_blocks * bh:g} h) cannot give all {len(same_project)} pinned "
            f"people the {minimum:g} h minimum each ({len(same_project) * minimum:g} h)"
        )
    else:
        why = (
            f"{person} on {project} in week {w} cannot hold together with the other pins: their people's hours, "
            "the fitting demand lines and the minimum hours leave no way to meet them all"
        )
    labels = [_pin_label(prep, i) for i in others]
    return why + (f"; conflicts with pin(s) {', '.join(labels)}" if labels else "")


def _minimal_core(prep: Prepared, dropped: Atom, kept: list[Atom]) -> list[Atom]:
    """A minimal set of pins, with ``dropped``, that cannot hold together (deletion filter over the
    solver's infeasible core, so no unrelated pin is ever named)."""
    feasible, core, _ = _joint_check(prep, [*kept, dropped])
    if feasible:
        return [dropped]
    core = sorted(set(core) | {dropped})
    if len(core) > 40:
        return core  # keep the solver's core rather than spend the solve on shrinking it
    for atom in list(core):
        if atom == dropped:
            continue
        trial = [a for a in core if a != atom]
        if not _joint_check(prep, trial)[0]:
            core = trial
    return core


def _fewest_drops(prep: Prepared, atoms: list[Atom], must: dict[Atom, list[int]]) -> list[Atom] | None:
    """The largest set of must pins that can hold together (so the fewest are dropped); among those,
    earlier pins win. None when the solver cannot prove it in time."""
    model, lits, _ = _build(prep, atoms)
    n_pins = len(prep.instance.pins)
    tiebreak = {a: n_pins - max(must[a]) for a in atoms}  # 1..n_pins, larger for earlier pins
    weight = sum(tiebreak.values()) + 1  # one more kept pin outweighs any tie-break
    model.maximize(sum((weight + tiebreak[a]) * lit for a, lit in lits.items()))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 10.0
    if solver.solve(model) != cp_model.OPTIMAL:
        return None
    return [a for a in atoms if solver.value(lits[a])]


def resolve_pins(prep: Prepared) -> tuple[list[PinConflict], Assignment]:
    """Set ``prep.must`` / ``prep.must_not`` and return (conflicts, an assignment meeting the feasible
    must pins, used to seed the greedy heuristic)."""
    must, must_not = _expand(prep)
    prep.must_not = set(must_not)
    conflicts: list[PinConflict] = []

    def conflict(atom: Atom, reason: str) -> None:
        p, j, w = atom
        conflicts.append(
            PinConflict(
                person_id=prep.people[p].id,
                project_id=prep.projects[j].id,
                week=w,
                reason=reason,
                pins=sorted(must[atom]),
            )
        )

    atoms: list[Atom] = []
    for atom in sorted(must):
        reason = _static_reason(prep, atom, must_not)
        if reason is None:
            atoms.append(atom)
        else:
            conflict(atom, reason)

    seed: Assignment = {}
    feasible, _, seed = _joint_check(prep, atoms) if atoms else (True, [], {})
    if not feasible:
        kept = _fewest_drops(prep, atoms, must)
        if kept is not None:
            for dropped in (a for a in atoms if a not in set(kept)):
                core = _minimal_core(prep, dropped, kept)
                conflict(dropped, _joint_reason(prep, dropped, core, must))
            atoms = kept
            seed = _joint_check(prep, atoms)[2]
        else:
            while atoms:
                feasible, core, seed = _joint_check(prep, atoms)
                if feasible:
                    break
                # Drop the atom of the latest pin in the core (earlier pins win) and try again.
                dropped = max(core, key=lambda a: (max(must[a]), a))
                conflict(dropped, _joint_reason(prep, dropped, core, must))
                atoms.remove(dropped)
    prep.must = set(atoms)
    prep.refresh_eligibility()
    return conflicts, seed


_Built = tuple[cp_model.CpModel, dict[Atom, cp_model.IntVar], dict[tuple[int, int], cp_model.IntVar]]


def _build(prep: Prepared, atoms: list[Atom]) -> _Built:
    """The pinned atoms alone: each kept pin (literal true) gets the minimum hours on a fitting line,
    within its person's week capacity and project limit and the lines' demand."""
    model = cp_model.CpModel()
    lits: dict[Atom, cp_model.IntVar] = {}
    xs: dict[tuple[int, int], cp_model.IntVar] = {}
    by_pw: dict[tuple[int, int], list[Atom]] = defaultdict(list)
    by_line: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    for atom in atoms:
        p, j, w = atom
        lit = model.new_bool_var(f"pin_{p}_{j}_{w}")
        lits[atom] = lit
        by_pw[(p, w)].append(atom)
        terms = []
        for d in _fitting_lines(prep, atom):
            x = model.new_int_var(0, min(prep.line_blocks[d], prep.cap_blocks[p][w]), f"x_{p}_{d}")
            xs[(p, d)] = x
            by_line[d].append(x)
            terms.append(x)
        model.add(sum(terms) >= prep.min_blocks).only_enforce_if(lit)
    for (p, w), group in by_pw.items():
        model.add(sum(xs[(p, d)] for a in group for d in _fitting_lines(prep, a)) <= prep.cap_blocks[p][w])
        model.add(sum(lits[a] for a in group) <= prep.max_projects[p])
    for d, group_x in by_line.items():
        model.add(sum(group_x) <= prep.line_blocks[d])
    return model, lits, xs


def _joint_check(prep: Prepared, atoms: list[Atom]) -> tuple[bool, list[Atom], Assignment]:
    model, lits, xs = _build(prep, atoms)
    model.minimize(sum(xs.values()))  # seed the greedy with just the pinned minimum
    model.add_assumptions(list(lits.values()))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 10.0
    status = solver.solve(model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        seed = {key: int(solver.value(x)) for key, x in xs.items() if solver.value(x) > 0}
        return True, [], seed
    index_to_atom = {lit.index: atom for atom, lit in lits.items()}
    core = [index_to_atom[i] for i in solver.sufficient_assumptions_for_infeasibility() if i in index_to_atom]
    return False, core or list(atoms), {}
