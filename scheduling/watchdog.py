"""Progress reporting, cancellation and stall detection for a running solve.

A background thread reports progress every ``interval`` seconds even when the solver finds
nothing new (so a Temporal activity can heartbeat), polls the ``should_stop`` hook and stops the
CP-SAT search in progress (``CpSolver.stop_search``) as soon as it returns True, and stops the
search when the objective has not improved for ``stall_timeout`` seconds.

The progress callback is called one at a time, in a copy of the ``contextvars`` context of the
thread that created the watchdog (the caller of ``solve``), whichever thread reports.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable

from ortools.sat.python import cp_model

from scheduling.options import Progress, ProgressCallback, StopCheck
from scheduling.plan import relative_gap


class Watchdog:
    def __init__(
        self,
        callback: ProgressCallback | None,
        should_stop: StopCheck | None,
        *,
        interval: float = 1.0,
        stall_timeout: float | None = None,
        poll: float = 0.05,
    ) -> None:
        self._callback = callback
        # Callbacks run in a copy of the caller's context (serialised by _emit_lock), so context-bound
        # APIs such as ``temporalio.activity.heartbeat`` work from the watchdog and solver threads.
        self._context = contextvars.copy_context()
        self._should_stop = should_stop
        self._interval = interval
        self._stall_timeout = stall_timeout
        self._poll = poll
        self._lock = threading.Lock()
        self._emit_lock = threading.Lock()
        self._solver: cp_model.CpSolver | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = time.monotonic()
        self.phase = "prepare"
        self.best: float | None = None
        self.bound: float | None = None
        self.solutions = 0
        self.cancelled = False
        self.stalled = False
        self._last_improvement = self.started
        self._last_report = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Watchdog:
        self._thread = threading.Thread(target=self._run, name="capacity-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # -- state updates (solver side) -------------------------------------------------------
    def set_phase(self, phase: str, message: str = "") -> None:
        self.phase = phase
        self.report(message)

    def attach(self, solver: cp_model.CpSolver | None) -> None:
        """Register the CP-SAT solver to stop on cancellation (None to detach)."""
        with self._lock:
            self._solver = solver
            stop_now = solver is not None and (self.cancelled or self.stalled)
        if stop_now and solver is not None:
            solver.stop_search()

    def improve(self, objective: float, *, solution: bool = True) -> None:
        objective = float(objective)
        with self._lock:
            if self.best is None or objective > self.best + 1e-6:
                self.best = objective
                self._last_improvement = time.monotonic()
            if solution:
                self.solutions += 1

    def tighten(self, bound: float) -> None:
        bound = float(bound)  # plain floats only: progress reports are serialised (e.g. heartbeats)
        with self._lock:
            if self.best is not None and bound < self.best - 1e-6 * max(1.0, abs(self.best)):
                return  # below a plan we hold: not a proof of anything, never let it close the gap
            if self.bound is None or bound < self.bound:
                self.bound = bound

    @property
    def gap(self) -> float | None:
        if self.best is None or self.bound is None:
            return None
        return relative_gap(self.best, self.bound)

    def should_halt(self) -> bool:
        self._check()
        return self.cancelled or self.stalled

    def report(self, message: str = "") -> None:
        if self._callback is None:
            return
        progress = Progress(
            phase=self.phase,
            elapsed_s=round(self.elapsed(), 3),
            best_objective=self.best,
            bound=self.bound,
            gap=self.gap,
            solutions=self.solutions,
            message=message,
        )
        with self._emit_lock:
            self._last_report = time.monotonic()
            self._context.run(self._callback, progress)

    def emit(self, callback: Callable[..., None], *args: object) -> None:
        """Call ``callback(*args)`` like the progress callback: serialised, in the caller's context."""
        with self._emit_lock:
            self._context.run(callback, *args)

    # -- background thread -----------------------------------------------------------------
    def _check(self) -> None:
        if not self.cancelled and self._should_stop is not None and self._should_stop():
            self.cancelled = True
        if (
            not self.stalled
            and self._stall_timeout is not None
            and time.monotonic() - self._last_improvement > self._stall_timeout
        ):
            self.stalled = True
        if self.cancelled or self.stalled:
            # Repeated on every poll: a search that starts right after a request is stopped too.
            with self._lock:
                solver = self._solver
            if solver is not None:
                solver.stop_search()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            self._check()
            if time.monotonic() - self._last_report >= self._interval:
                self.report("heartbeat")
