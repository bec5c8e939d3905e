"""``solve``: greedy plan, flow bound, relaxation-guided plan, then the CP-SAT model (one exact
model for small instances, large neighbourhood search over week windows and skill clusters for
large ones), with progress reports, cancellation and an honest gap to a bound of the whole
instance. Pure: no database, HTTP or Temporal; call it from a worker thread / activity."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from ortools.sat.python import cp_model

from scheduling.assemble import allocations, assemble
from scheduling.bound import flow_bound
from scheduling.candidates import select_candidates
from scheduling.construct import construct, polish
from scheduling.continuity import improve_continuity
from scheduling.decompose import Neighbourhood, neighbourhoods
from scheduling.greedy import greedy, sanitize
from scheduling.instance import Instance
from scheduling.lagrangian import LagrangianBound
from scheduling.model import UNIT, SubModel
from scheduling.objective import evaluate
from scheduling.options import CheckpointCallback, ProgressCallback, SolveOptions, StopCheck
from scheduling.pins import resolve_pins
from scheduling.plan import Allocation, Plan, SolveStats, StopReason
from scheduling.prepared import Assignment, Prepared
from scheduling.teams import TeamSearch
from scheduling.validation import ensure_valid
from scheduling.watchdog import Watchdog


class _FullModelCallback(cp_model.CpSolverSolutionCallback):
    def __init__(
        self, wd: Watchdog, slack: float, gap_limit: float, on_first: list[float], run: _Run, sub: SubModel
    ) -> None:
        super().__init__()
        self._wd = wd
        self._slack = slack
        self._gap_limit = gap_limit
        self._on_first = on_first
        self._run = run
        self._sub = sub
        self.solutions = 0

    def on_solution_callback(self) -> None:
        self.solutions += 1
        if not self._on_first:
            self._on_first.append(self._wd.elapsed())
        self._wd.improve(self.objective_value / UNIT - self._slack)
        if self.best_objective_bound >= self.objective_value:  # a bound below the solution in hand proves nothing
            self._wd.tighten(self.best_objective_bound / UNIT + self._slack)
        self._wd.report("solution")
        if self._run.checkpoint_due():
            # Through offer, not straight to save: CP-SAT's objective is the rounded one, so a "new" solution
            # can evaluate a hair below the plan already handed over, and checkpoints must only improve.
            plan = self._sub.extract(self, {})
            self._run.offer(plan, evaluate(self._run.prep, plan).objective)
        gap = self._wd.gap
        if gap is not None and gap <= self._gap_limit:
            self.stop_search()


def _parameters(solver: cp_model.CpSolver, options: SolveOptions, time_limit: float) -> None:
    solver.parameters.num_workers = max(1, options.num_workers)
    solver.parameters.max_time_in_seconds = max(0.05, time_limit)
    solver.parameters.random_seed = options.seed
    solver.parameters.log_search_progress = options.log_search


def solve(
    instance: Instance,
    options: SolveOptions | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    *,
    start_from: Plan | Sequence[Allocation] | None = None,
    checkpoint: CheckpointCallback | None = None,
) -> Plan:
    """Solve ``instance`` and return the best plan found.

    ``progress`` is called with a ``Progress`` at every phase, every new solution and at least
    every ``options.progress_interval_s`` (heartbeat). ``should_stop`` is polled every 50 ms; when
    it returns True the search stops promptly and the best plan so far is returned with status
    ``cancelled``. ``start_from`` (e.g. the plan before a what-if, or the allocations of a checkpoint)
    seeds the search: its allocations that are still valid are kept as a starting point.
    ``checkpoint(allocations, objective)`` receives the best plan so far at most every
    ``options.checkpoint_interval_s`` (so an interrupted solve can be resumed with ``start_from``).
    Raises ``InstanceError`` for invalid input; conflicting pins are reported in the plan.
    """
    options = options or SolveOptions()
    ensure_valid(instance)
    with Watchdog(
        progress, should_stop, interval=options.progress_interval_s, stall_timeout=options.stall_timeout_s
    ) as wd:
        wd.set_phase("prepare")
        prep = Prepared(instance)
        conflicts, seed = resolve_pins(prep)
        run = _Run(prep, options, wd, checkpoint)

        wd.set_phase("greedy")
        t_greedy = time.monotonic()
        greedy_plan = greedy(prep, seed)
        greedy_value = evaluate(prep, greedy_plan).objective
        greedy_seconds = time.monotonic() - t_greedy
        run.offer(greedy_plan, greedy_value, solution=True)
        starts: list[Assignment] = [greedy_plan]
        if start_from is not None:
            kept = sanitize(prep, start_from, seed)
            run.offer(kept, evaluate(prep, kept).objective)  # a checkpoint resumes at least where it was
            earlier = greedy(prep, kept)
            starts.append(earlier)
            run.offer(earlier, evaluate(prep, earlier).objective)

        n_pairs = sum(len(e) for e in prep.eligible)
        decomposed = options.decompose == "always" or (
            options.decompose == "auto" and n_pairs > options.max_full_model_pairs
        )
        if decomposed and not wd.should_halt():
            # First model plan fast: the first week window re-optimised around the greedy plan.
            candidates = select_candidates(prep, options.candidates_per_line, starts, greedy_plan)
            first = next(iter(neighbourhoods(prep, candidates, options.neighbourhood_pairs // 2, options.seed)))
            run.neighbourhood(first, candidates, min(1.0, options.neighbourhood_time_s, 0.03 * options.time_limit_s))

        wd.set_phase("bound")
        relaxation = flow_bound(prep)
        wd.tighten(relaxation.bound)
        if not wd.should_halt():
            wd.set_phase("construct")
            constructed = construct(prep, seed)
            starts.append(constructed)
            run.offer(constructed, evaluate(prep, constructed).objective)
        bounds = {"flow relaxation": relaxation.bound}
        if not wd.should_halt() and options.lagrangian_share > 0:
            # A bound that keeps churn, minimum hours and the project limit, warm-started at the flow duals.
            wd.set_phase("lagrangian")
            lagrangian = LagrangianBound(prep)
            lagrangian.set_prices(np.array(relaxation.person_prices), np.array(relaxation.line_prices))
            budget = min(options.lagrangian_share * options.time_limit_s, max(0.0, run.remaining() - 0.5))
            bounds["lagrangian"] = lagrangian.run(
                time.monotonic() + budget, lambda: run.best_value, halt=wd.should_halt, on_bound=wd.tighten
            )
        if not wd.should_halt() and options.polish_share > 0:
            wd.set_phase("polish")
            deadline = time.monotonic() + max(0.0, options.polish_share * options.time_limit_s - wd.elapsed())
            polished = run.best
            for factor in (1.0, 2.0, 0.5, 3.0):
                if wd.should_halt() or time.monotonic() > deadline:
                    break
                polished = polish(prep, polished, seed, deadline, factor)
            run.offer(polished, evaluate(prep, polished).objective)
            starts.append(polished)
        if not wd.should_halt() and options.team_share > 0:
            # Who works on which project when (stable teams); the hours of each week follow by min-cost flow.
            wd.set_phase("teams")
            deadline = time.monotonic() + max(0.0, options.team_share * options.time_limit_s - wd.elapsed())
            teams = TeamSearch(prep, run.best)
            teamed = teams.run(
                deadline,
                halt=lambda: wd.should_halt() or run.gap_reached(),
                on_pass=lambda plan: run.offer(plan, evaluate(prep, plan).objective),
            )
            run.offer(teamed, evaluate(prep, teamed).objective)
            starts.append(teamed)
        if not wd.should_halt() and not run.gap_reached():
            # Multi-week moves that remove churn the week-by-week polish cannot (people keep a foot in).
            wd.set_phase("continuity")
            budget = min(options.continuity_share * options.time_limit_s, max(0.0, run.remaining() - 0.5))
            continued = improve_continuity(prep, run.best, time.monotonic() + budget)
            run.offer(continued, evaluate(prep, continued).objective)
            starts.append(continued)

        stop: StopReason = "completed"
        if wd.should_halt():
            pass
        elif not decomposed:
            stop, exact = run.full_model()
            if exact is not None:
                bounds["cp-sat"] = exact
        else:
            candidates = select_candidates(prep, options.candidates_per_line, [*starts, relaxation.relaxed], run.best)
            run.search(candidates)
        if wd.cancelled:
            stop = "cancelled"
        elif stop != "optimal":
            gap = wd.gap
            if gap is not None and gap <= max(options.relative_gap_limit, 1e-7):
                stop = "optimal" if gap <= 1e-7 else "gap_limit"
            elif wd.stalled:
                stop = "stalled"
            elif run.remaining() <= 0.1:
                stop = "time_limit"
        bound = wd.bound if wd.bound is not None else relaxation.bound
        bound_source = min(bounds, key=lambda source: bounds[source])
        if stop == "optimal" and "cp-sat" in bounds:
            bound_source = "cp-sat"  # name only a source that ran and certified the bound
        wd.set_phase("assemble")
        stats = SolveStats(
            greedy_objective=greedy_value,
            greedy_seconds=round(greedy_seconds, 4),
            first_plan_seconds=round(run.first_model, 4) if run.first_model is not None else None,
            wall_seconds=0.0,
            model_solutions=run.model_solutions,
            decomposed=decomposed,
            windows=run.windows,
            variables=run.variables,
            bound_source=bound_source,
        )
        result = assemble(prep, run.best, bound, stop, conflicts, stats)
        result.stats.wall_seconds = round(wd.elapsed(), 4)
        wd.set_phase("done")
        return result


class _Run:
    """The state of one solve: best plan so far and the CP-SAT phases."""

    def __init__(
        self, prep: Prepared, options: SolveOptions, wd: Watchdog, checkpoint: CheckpointCallback | None = None
    ) -> None:
        self.prep = prep
        self.options = options
        self.wd = wd
        self._checkpoint = checkpoint
        self._last_checkpoint = float("-inf")
        self.best: Assignment = {}
        self.best_value = float("-inf")
        self.first_model: float | None = None
        self.model_solutions = 0
        self.windows = 0
        self.variables = 0

    def remaining(self) -> float:
        return self.options.time_limit_s - self.wd.elapsed()

    def gap_reached(self) -> bool:
        gap = self.wd.gap
        return gap is not None and gap <= self.options.relative_gap_limit

    def offer(self, plan: Assignment, value: float, *, solution: bool = False) -> bool:
        if value > self.best_value + 1e-6:
            self.best, self.best_value = plan, value
            self.wd.improve(value, solution=solution)
            self.save(plan, value)
            return True
        return False

    def checkpoint_due(self) -> bool:
        return (
            self._checkpoint is not None
            and time.monotonic() - self._last_checkpoint >= self.options.checkpoint_interval_s
        )

    def save(self, plan: Assignment, value: float) -> None:
        """Hand the plan to the checkpoint callback unless one was handed over recently."""
        if self._checkpoint is None or not self.checkpoint_due():
            return
        self._last_checkpoint = time.monotonic()
        self.wd.emit(self._checkpoint, allocations(self.prep, plan), value)

    def _model_plan(self) -> None:
        self.model_solutions += 1
        if self.first_model is None:
            self.first_model = self.wd.elapsed()

    def full_model(self) -> tuple[StopReason, float | None]:
        """One exact model of the whole instance; returns (stop reason, CP-SAT's valid bound)."""
        prep, wd, options = self.prep, self.wd, self.options
        wd.set_phase("model")
        sub = SubModel(prep, range(prep.n_weeks), dict(enumerate(prep.eligible)), self.best)
        self.variables = sub.num_variables
        solver = cp_model.CpSolver()
        _parameters(solver, options, self.remaining())
        solver.parameters.relative_gap_limit = options.relative_gap_limit
        slack = sub.rounding_slack + 1e-6
        # No best_bound_callback: a run that stops at presolve (status UNKNOWN) can leave a "bound" that
        # proves nothing, so CP-SAT's bound counts only once the final status certifies it (below).
        first: list[float] = []
        callback = _FullModelCallback(wd, slack, options.relative_gap_limit, first, self, sub)
        wd.attach(solver)
        ran = not wd.should_halt()
        status = solver.solve(sub.model, callback) if ran else cp_model.UNKNOWN
        wd.attach(None)
        if first:
            self.first_model = first[0]
        stop: StopReason = "completed"
        exact: float | None = None
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self.model_solutions = max(1, callback.solutions)
            plan = sub.extract(solver, {})
            self.offer(plan, evaluate(prep, plan).objective)
        if ran and sub.full and status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            # Only a run that found a solution certifies its bound (the model is the whole instance, so it
            # bounds the original objective up to the rounding slack). OPTIMAL here can also mean "within
            # relative_gap_limit", so the proven bound is CP-SAT's, not the incumbent.
            exact = solver.best_objective_bound / UNIT + slack
            wd.tighten(exact)
            if status == cp_model.OPTIMAL and solver.best_objective_bound <= solver.objective_value + 0.5:
                stop = "optimal"
                wd.tighten(self.best_value + sub.rounding_slack)
        return stop, exact

    def neighbourhood(self, nb: Neighbourhood, candidates: dict[int, list[int]], limit: float) -> int:
        """Re-optimise one neighbourhood around the best plan; returns the CP-SAT status."""
        prep, wd = self.prep, self.wd
        self.windows += 1
        wd.set_phase(f"window {self.windows}", nb.label)
        sub = SubModel(prep, nb.weeks, candidates, self.best, set(nb.free))
        self.variables = max(self.variables, sub.num_variables)
        solver = cp_model.CpSolver()
        _parameters(solver, self.options, min(self.remaining(), limit))
        wd.attach(solver)
        status = solver.solve(sub.model) if not wd.should_halt() else cp_model.UNKNOWN
        wd.attach(None)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self._model_plan()
            plan = sub.extract(solver, self.best)
            improved = self.offer(plan, evaluate(prep, plan).objective, solution=True)
            wd.report(f"{nb.label}: {solver.status_name(status)}")
            return OPTIMAL_NO_GAIN if status == cp_model.OPTIMAL and not improved else int(status)
        return int(status)

    def search(self, candidates: dict[int, list[int]]) -> None:
        """Large neighbourhood search until time, cancellation, the gap limit or a local optimum."""
        prep, options, wd = self.prep, self.options, self.wd
        all_lines = frozenset(range(len(prep.lines)))
        idle = 0  # neighbourhoods in a row proven optimal without improvement
        for nb in neighbourhoods(prep, candidates, options.neighbourhood_pairs, options.seed):
            gap = wd.gap
            if self.remaining() <= 0.05 or wd.should_halt() or (gap is not None and gap <= options.relative_gap_limit):
                return
            if idle >= 8 + 2 * prep.n_weeks:
                return  # local optimum for these neighbourhoods
            status = self.neighbourhood(nb, candidates, options.neighbourhood_time_s)
            idle = idle + 1 if status == OPTIMAL_NO_GAIN else 0
            if status in (OPTIMAL_NO_GAIN, int(cp_model.OPTIMAL)) and nb.free == all_lines:
                return  # the whole (pruned) instance in one neighbourhood, solved


OPTIMAL_NO_GAIN = -1
