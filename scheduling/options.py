"""Solver options, progress reports and the progress callback type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from scheduling.plan import Allocation


class SolveOptions(msgspec.Struct, frozen=True, kw_only=True):
    time_limit_s: float = 30.0
    """Wall-clock budget for the whole solve (greedy, bound and model)."""
    relative_gap_limit: float = 0.0
    """Stop as soon as (bound - objective) / bound is at most this (0: run to optimality or time)."""
    num_workers: int = 2
    """CP-SAT search workers (the reference machine has 2 cores)."""
    progress_interval_s: float = 1.0
    """How often the watchdog reports progress when nothing else happens (heartbeat)."""
    stall_timeout_s: float | None = None
    """Stop when the objective has not improved for this long (None: never)."""
    decompose: Literal["auto", "always", "never"] = "auto"
    max_full_model_pairs: int = 30_000
    """``auto`` solves one exact model up to this many (person, demand line) pairs, else decomposes."""
    window_weeks: int = 2
    """Weeks per sub-problem when decomposing."""
    candidates_per_line: int = 10
    """People kept per demand line in decomposed sub-problems (plus those in the greedy plan,
    the relaxation and pins)."""
    polish_share: float = 0.0
    """Flow-based week polishing (``scheduling.construct.polish``) may run until this share of the time limit
    has passed (0: skipped; the team search does better in the same time)."""
    team_share: float = 0.9
    """The team search (``scheduling.teams``: memberships moved, hours re-optimised by min-cost flows) may run
    until this share of the time limit has passed; 0 disables it."""
    continuity_share: float = 0.1
    """The continuity search (``scheduling.continuity``: multi-week moves against churn) may run for up to
    this share of the time limit after the team search."""
    lagrangian_share: float = 0.2
    """The Lagrangian bound (``scheduling.lagrangian``) may run for up to this share of the time limit, right
    after the constructed plan (it stops earlier once a restart finds nothing better); 0 disables it."""
    neighbourhood_pairs: int = 6_000
    """Target size (candidate pairs) of one decomposed sub-problem."""
    neighbourhood_time_s: float = 2.0
    """Time limit of one decomposed sub-problem."""
    checkpoint_interval_s: float = 5.0
    """At most this often the ``checkpoint`` callback of ``solve`` receives the best plan so far."""
    seed: int = 0
    log_search: bool = False


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    phase: str
    """``prepare``, ``greedy``, ``bound``, ``model``, ``window k/n`` or ``done``."""
    elapsed_s: float
    best_objective: float | None
    bound: float | None
    gap: float | None
    solutions: int
    message: str = ""


ProgressCallback = Callable[[Progress], None]
"""Called from solver threads (one call at a time); keep it cheap, e.g. a Temporal heartbeat."""

CheckpointCallback = Callable[[list[Allocation], float], None]
"""Receives the best allocations so far and their objective (from solver threads, one call at a time),
e.g. to save them so that an interrupted solve can resume with ``solve(..., start_from=allocations)``."""

StopCheck = Callable[[], bool]
"""Returns True when the solve should stop (e.g. ``threading.Event().is_set`` or activity cancel)."""
