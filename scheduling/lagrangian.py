"""A Lagrangian upper bound that keeps continuity (churn), minimum hours and the project limit.

The flow bound (``scheduling.bound``) drops churn, minimum hours and the projects-per-week limit. This
bound keeps them by decomposing differently. The instance is

    max  Σ a[p,d]·x[p,d] + Σ_pw U[p,w](h[p,w]) − churn(y)
    s.t. h[p,w] = Σ_{d in w} x[p,d]              (λ[p,w], free)      person-week hours
         Σ_p x[p,d] <= b[d]                       (μ[d] >= 0)         demand per line
         Σ_j y[p,j,w] <= K[p]                     (ν[p,w] >= 0)       projects per week
         min·y[p,j,w] <= Σ_{d in (j,w)} x[p,d] <= cap[p,w]·y[p,j,w],  must pins y = 1,
         x integer, 0 <= x[p,d] <= min(b[d], cap[p,w]), 0 <= h[p,w] <= cap[p,w]

(``a`` revenue minus cost per block, ``U`` the concave utilization term, ``churn`` joins and leaves between
consecutive demand weeks of a project plus existing-team members missing in its first week). Moving the
three marked constraint families into the objective with the multipliers shown leaves, for any multipliers,
independent problems that are solved *exactly*:

* per (person, project): a chain over the project's weeks, each week "off" (0) or "on" (the best choice of
  blocks on the project's lines with reduced gains a + λ − μ, at least the minimum, at most the capacity,
  minus ν), switching between consecutive demand weeks costs the churn weight: a two-state dynamic
  programme, so churn and minimum hours are exact inside each chain;
* per person-week: max over h of U(h) − λ·h (concave: one of four breakpoints);
* the constant Σ μ·b + Σ ν·K.

Each evaluation is therefore a valid upper bound on the objective of the whole instance (weak duality);
(deflected) subgradient steps on (λ, μ, ν) lower it. The smallest value seen (plus a floating-point slack) is reported,
and the solver keeps the smaller of it and the flow bound. No heuristic pruning is involved.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from scheduling.flows import utilization_at_zero
from scheduling.prepared import Prepared

FloatArray = npt.NDArray[np.float64]


def _utilization(prep: Prepared, p: int, w: int, blocks: int) -> float:
    weights = prep.instance.weights
    hours = blocks * prep.block_hours
    target = prep.target_hours[p][w]
    return -weights.under_utilization_per_hour * max(0.0, target - hours) - (
        weights.over_utilization_per_hour * max(0.0, hours - target)
    )


class LagrangianBound:
    """Evaluate and improve the bound; ``best`` is the smallest valid bound found so far."""

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        n_people, n_weeks, n_projects = len(prep.people), prep.n_weeks, len(prep.projects)
        self.n_people, self.n_weeks = n_people, n_weeks
        churn = prep.instance.weights.churn_per_change
        self.churn = churn

        pairs_p: list[int] = []
        pairs_d: list[int] = []
        for d, people in enumerate(prep.eligible):
            pairs_p.extend(people)
            pairs_d.extend([d] * len(people))
        pp = np.array(pairs_p, dtype=np.int64)
        dd = np.array(pairs_d, dtype=np.int64)
        line_week = np.array(prep.line_week, dtype=np.int64)
        line_project = np.array(prep.line_project, dtype=np.int64)
        cap = np.array(prep.cap_blocks, dtype=np.int64).reshape(n_people, n_weeks)
        self.line_blocks = np.array(prep.line_blocks, dtype=np.float64)
        ww = line_week[dd] if len(dd) else np.zeros(0, dtype=np.int64)
        jj = line_project[dd] if len(dd) else np.zeros(0, dtype=np.int64)
        # Groups: (person, project, week) with at least one eligible line. Pairs are stored group by group,
        # so that the per-step sort by (group, reduced gain) runs on nearly sorted keys (fast).
        gkey = (pp * n_projects + jj) * n_weeks + ww
        by_group = np.argsort(gkey, kind="stable")
        pp, dd, ww, jj, gkey = pp[by_group], dd[by_group], ww[by_group], jj[by_group], gkey[by_group]
        self.dd = dd
        self.pw = pp * n_weeks + ww
        self.gain = np.array(
            [prep.block_value(p, d) for p, d in zip(pp.tolist(), dd.tolist(), strict=True)], dtype=np.float64
        )
        self.ub = np.minimum(self.line_blocks[dd], cap[pp, ww]).astype(np.float64) if len(dd) else np.zeros(0)
        groups, self.ginv = np.unique(gkey, return_inverse=True)
        # Pairs are stored group by group: the first pair of each group, and each pair's group start.
        self.g_start = np.flatnonzero(np.r_[True, self.ginv[1:] != self.ginv[:-1]]) if len(gkey) else np.zeros(0, int)
        self.n_groups = len(groups)
        self.g_week = groups % n_weeks
        g_pj = groups // n_weeks
        self.g_person = g_pj // n_projects
        self.g_cap = cap[self.g_person, self.g_week].astype(np.float64)
        self.min_blocks = float(prep.min_blocks)
        ub_sum = np.bincount(self.ginv, weights=self.ub, minlength=self.n_groups)
        self.g_feasible = ub_sum >= self.min_blocks - 1e-9

        # Chains: (person, project) with at least one group; one row per chain, one column per week.
        chains, self.g_chain = np.unique(g_pj, return_inverse=True)
        self.n_chains = len(chains)
        c_person = chains // n_projects
        c_project = chains % n_projects
        active = np.zeros((n_projects, n_weeks), dtype=bool)
        for j, w in prep.lines_by_pw:
            active[j, w] = True
        link = np.zeros((n_projects, n_weeks), dtype=bool)
        if n_weeks > 1:
            link[:, :-1] = active[:, :-1] & active[:, 1:]
        self.c_link = link[c_project]
        self.off_value = np.zeros((self.n_chains, n_weeks))
        on_chain = set(zip(c_person.tolist(), c_project.tolist(), strict=True))
        self.constant = 0.0
        for j, team in enumerate(prep.existing):
            first = prep.first_active_week.get(j)
            if first is None:
                continue
            for p in team:
                if (p, j) not in on_chain:
                    self.constant -= churn  # cannot be on the project in its first week
        chain_index = {(int(p), int(j)): i for i, (p, j) in enumerate(zip(c_person, c_project, strict=True))}
        for (p, j), i in chain_index.items():
            first = prep.first_active_week.get(j)
            if first is not None and p in prep.existing[j]:
                self.off_value[i, first] -= churn
        group_index = {(int(c), int(w)): g for g, (c, w) in enumerate(zip(self.g_chain, self.g_week, strict=True))}
        self.forced = np.zeros((self.n_chains, n_weeks), dtype=bool)
        for p, j, w in prep.must:
            chain = chain_index.get((p, j))
            group = group_index.get((chain, w)) if chain is not None else None
            if chain is not None and group is not None and self.g_feasible[group]:
                self.forced[chain, w] = True
        # For the dynamic programme (week-major): the value of "off", and the cost of switching after week w.
        self.off_value_t = np.ascontiguousarray(np.where(self.forced, -np.inf, self.off_value).T)
        self.switch_t = np.ascontiguousarray(np.where(self.c_link, churn, 0.0).T)

        # Utilization: U at the breakpoints 0, ⌊target⌋, ⌈target⌉, capacity (in blocks) per person-week.
        full = np.minimum(
            cap, np.floor(np.array(prep.target_hours).reshape(n_people, n_weeks) / prep.block_hours + 1e-9)
        ).astype(np.int64)
        self.breaks = np.stack([np.zeros_like(cap), full, np.minimum(full + 1, cap), cap], axis=-1).astype(np.float64)
        self.u_break = np.zeros(self.breaks.shape)
        for p in range(n_people):
            for w in range(n_weeks):
                for k in range(4):
                    self.u_break[p, w, k] = _utilization(prep, p, w, int(self.breaks[p, w, k]))
        has_pair = np.zeros(n_people * n_weeks, dtype=bool)
        has_pair[self.pw] = True
        self.has_pair = has_pair.reshape(n_people, n_weeks)
        self.u_zero = np.array(
            [[utilization_at_zero(prep, p, w) for w in range(n_weeks)] for p in range(n_people)]
        ).reshape(n_people, n_weeks)
        self.k_limit = np.array(prep.max_projects, dtype=np.float64)[:, None] * np.ones((1, n_weeks))

        self.lam = np.zeros((n_people, n_weeks))
        self.mu = np.zeros(len(prep.lines))
        self.nu = np.zeros((n_people, n_weeks))
        self.best = math.inf
        self.iterations = 0
        self.restarts = 0
        self._theta = 1.0
        self._restart_theta = 1.0
        self._stall = 0
        self._direction: FloatArray | None = None
        self._best_multipliers = (self.lam.copy(), self.mu.copy(), self.nu.copy())

    def set_prices(self, person_week: FloatArray, line: FloatArray, *, step: float = 0.5) -> None:
        """Start from given multipliers (e.g. the duals of the flow relaxation), with smaller steps: they
        are already close to good ones."""
        self.lam = person_week.reshape(self.n_people, self.n_weeks).astype(np.float64)
        self.mu = np.maximum(0.0, line.astype(np.float64))
        self._theta = step
        self._restart_theta = min(step, 0.3)
        self._direction = None

    def evaluate(self) -> tuple[float, FloatArray, FloatArray, FloatArray]:
        """(bound, subgradients for λ, μ, ν) at the current multipliers."""
        n_people, n_weeks = self.n_people, self.n_weeks
        reduced = self.gain + self.lam.ravel()[self.pw] - self.mu[self.dd]
        # Lines of a group by decreasing reduced gain (one float key: group, then gain).
        spread = 2.0 * float(np.abs(reduced).max(initial=0.0)) + 1.0
        # The sort only permutes pairs within their group (pairs are stored group by group).
        order = np.argsort(self.ginv * spread - reduced, kind="stable")
        g_sorted = self.ginv
        ub_sorted = self.ub[order]
        r_sorted = reduced[order]
        cum = np.cumsum(ub_sorted)
        # Blocks of the group's better lines ahead of each line (cumulative sum restarted per group).
        starts = self.g_start
        before = cum - ub_sorted - (cum - ub_sorted)[starts][g_sorted] if len(starts) else cum
        positive = np.add.reduceat(np.where(r_sorted > 0, ub_sorted, 0.0), starts) if len(starts) else np.zeros(0)
        target = np.minimum(self.g_cap, np.maximum(self.min_blocks, positive))
        take = np.clip(target[g_sorted] - before, 0.0, ub_sorted)
        on_value = np.add.reduceat(take * r_sorted, starts) if len(starts) else np.zeros(0)
        on_value -= self.nu[self.g_person, self.g_week]
        on_value = np.where(self.g_feasible, on_value, -np.inf)

        # Week-major arrays (weeks x chains): each step of the programme reads contiguous rows.
        von = np.full((n_weeks, self.n_chains), -np.inf)
        von[self.g_week, self.g_chain] = on_value
        voff = self.off_value_t
        switch = self.switch_t
        on = np.empty((n_weeks, self.n_chains))
        off = np.empty((n_weeks, self.n_chains))
        came_on = np.zeros((n_weeks, self.n_chains), dtype=bool)  # best predecessor of "on" is "on"
        came_off = np.zeros((n_weeks, self.n_chains), dtype=bool)  # best predecessor of "off" is "on"
        on[0] = von[0]
        off[0] = voff[0]
        for w in range(1, n_weeks):
            stay_on, join = on[w - 1], off[w - 1] - switch[w - 1]
            came_on[w] = stay_on >= join
            on[w] = von[w] + np.maximum(stay_on, join)
            leave, stay_off = on[w - 1] - switch[w - 1], off[w - 1]
            came_off[w] = leave > stay_off
            off[w] = voff[w] + np.maximum(leave, stay_off)
        chains_value = np.maximum(on[-1], off[-1]) if n_weeks else np.zeros(0)
        state = on[-1] > off[-1]
        y = np.zeros((n_weeks, self.n_chains), dtype=bool)
        for w in range(n_weeks - 1, -1, -1):
            y[w] = state
            if w > 0:
                state = np.where(state, came_on[w], came_off[w])
        y_group = y[self.g_week, self.g_chain]
        x = np.zeros(len(self.gain))
        x[order] = take * y_group[g_sorted]

        value = self.u_break - self.lam[:, :, None] * self.breaks
        pick = np.argmax(value, axis=-1)
        best_u = np.take_along_axis(value, pick[..., None], -1)[..., 0]
        hours = np.take_along_axis(self.breaks, pick[..., None], -1)[..., 0]
        best_u = np.where(self.has_pair, best_u, self.u_zero)
        hours = np.where(self.has_pair, hours, 0.0)

        terms = (
            float((self.mu * self.line_blocks).sum()),
            float(best_u.sum()),
            float(chains_value.sum()),
            float((self.nu * self.k_limit).sum()),
            self.constant,
        )
        bound = sum(terms)
        if math.isfinite(bound):
            # Floating-point slack, so the bound is never rounded below its exact value: the sums, and
            # the ordering of lines within a group by a float key (an error of at most an ulp of the key
            # per block taken).
            ordering = 4.0 * np.finfo(np.float64).eps * (self.n_groups + 1) * spread * float(self.ub.sum())
            bound = float(bound + 1e-9 * sum(abs(t) for t in terms) + ordering + 1e-6)
        x_pw = np.bincount(self.pw, weights=x, minlength=n_people * n_weeks).reshape(n_people, n_weeks)
        x_line = np.bincount(self.dd, weights=x, minlength=len(self.mu))
        y_pw = np.bincount(
            self.g_person * n_weeks + self.g_week, weights=y_group.astype(np.float64), minlength=n_people * n_weeks
        ).reshape(n_people, n_weeks)
        return bound, x_pw - hours, self.line_blocks - x_line, self.k_limit - y_pw

    def step(self, target: float, *, min_theta: float = 1e-4) -> float:
        """Evaluate, keep the bound if it is the best, and take a step towards ``target`` (the best known
        objective, a lower bound on the optimum). Returns the bound at this step.

        Steps follow a *deflected* subgradient (Camerini-Fratta-Maffioli: the new subgradient plus 1.5 times
        the part of the previous direction it turns against), which zig-zags less than the plain one; the
        step factor shrinks when the bound stalls, and once it has collapsed below ``min_theta`` the search
        restarts from the best multipliers so far with a fresh step factor (``restarts`` counts them)."""
        bound, g_lam, g_mu, g_nu = self.evaluate()
        self.iterations += 1
        if bound < self.best - 1e-6:
            self.best = bound
            self._stall = 0
            self._best_multipliers = (self.lam.copy(), self.mu.copy(), self.nu.copy())
        else:
            self._stall += 1
            if self._stall >= 10:
                self._theta *= 0.7
                self._stall = 0
                if self._theta < min_theta:
                    lam, mu, nu = self._best_multipliers
                    self.lam, self.mu, self.nu = lam.copy(), mu.copy(), nu.copy()
                    self._theta = self._restart_theta
                    self._direction = None
                    self.restarts += 1
                    return bound
        g_mu = np.where((self.mu <= 0) & (g_mu > 0), 0.0, g_mu)
        g_nu = np.where((self.nu <= 0) & (g_nu > 0), 0.0, g_nu)
        g = np.concatenate([g_lam.ravel(), g_mu, g_nu.ravel()])
        direction = g
        if self._direction is not None:
            turn = float(g @ self._direction)
            if turn < 0:
                direction = g - 1.5 * turn / float(self._direction @ self._direction) * self._direction
        norm = float(direction @ direction)
        if norm <= 1e-12 or not math.isfinite(bound):
            return bound
        self._direction = direction
        size = self._theta * max(bound - target, 1e-6 * abs(bound)) / norm
        n_lam, n_mu = self.lam.size, self.mu.size
        self.lam = self.lam - size * direction[:n_lam].reshape(self.lam.shape)
        self.mu = np.maximum(0.0, self.mu - size * direction[n_lam : n_lam + n_mu])
        self.nu = np.maximum(0.0, self.nu - size * direction[n_lam + n_mu :].reshape(self.nu.shape))
        return bound

    def run(
        self,
        deadline: float,
        target: Callable[[], float],
        *,
        halt: Callable[[], bool] | None = None,
        on_bound: Callable[[float], None] | None = None,
        min_theta: float = 1e-4,
    ) -> float:
        """Steps until ``deadline`` (monotonic), ``halt()``, or a restart that found nothing better (the
        bound has converged)."""
        restart_best = self.best
        while time.monotonic() < deadline:
            if halt is not None and halt():
                break
            before, restarts = self.best, self.restarts
            self.step(target(), min_theta=min_theta)
            if on_bound is not None and self.best < before:
                on_bound(self.best)
            if self.restarts > restarts:
                if self.best >= restart_best - 1e-6 * max(1.0, abs(restart_best)):
                    break
                restart_best = self.best
        return self.best
