"""Keeping ``agencyflow up``'s API and worker running: a child that dies is started again, after a pause.

Before this, a child that exited (a SIGKILLed API, an out-of-memory worker) made ``up`` stop the whole
stack, PostgreSQL and Temporal included. Both children are stateless, so the right answer to their death
is a restart; only Ctrl-C or SIGTERM on ``up`` stops the stack.

The pause doubles with each consecutive restart (``Backoff``) so a child that cannot start (a bad setting,
a port taken) does not spin the CPU; a child that then stays up for ``stable_after`` seconds earns a
fresh start at the shortest pause. Restarts are due at a time rather than slept for, so ``poll`` never
blocks and a stop signal is handled at once.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 1.0
    maximum_s: float = 30.0
    stable_after_s: float = 60.0
    """A child that ran this long before dying is restarted after ``initial_s`` again."""

    def delay(self, consecutive: int) -> float:
        """The pause before restart number ``consecutive + 1`` of a run of quick deaths."""
        return min(self.maximum_s, self.initial_s * 2.0 ** min(consecutive, 32))


def describe_exit(returncode: int) -> str:
    """``code 3`` or ``signal SIGKILL``: what an operator reading the log needs to tell a crash from a kill."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"


@dataclass
class Supervised:
    name: str
    spawn: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes]
    started_at: float
    consecutive: int = 0
    restart_at: float | None = None
    restarts: int = 0


@dataclass
class Supervisor:
    """Children started through ``start`` are restarted by ``poll`` when they exit."""

    say: Callable[[str], None]
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    children: list[Supervised] = field(default_factory=list)

    def start(self, name: str, spawn: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        process = spawn()
        self.children.append(Supervised(name, spawn, process, self.clock()))
        self.say(f"{name} started (pid {process.pid})")
        return process

    def poll(self) -> None:
        """Notice children that exited and restart those whose pause is over; never blocks."""
        now = self.clock()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.process = child.spawn()
                    child.started_at, child.restart_at = now, None
                    child.restarts += 1
                    self.say(f"{child.name} restarted (pid {child.process.pid}, restart {child.restarts})")
                continue
            returncode = child.process.poll()
            if returncode is None:
                continue
            ran_for = now - child.started_at
            if ran_for >= self.backoff.stable_after_s:
                child.consecutive = 0
            delay = self.backoff.delay(child.consecutive)
            child.consecutive += 1
            child.restart_at = now + delay
            self.say(
                f"{child.name} (pid {child.process.pid}) exited with {describe_exit(returncode)} after "
                f"{ran_for:.1f} s; restarting in {delay:g} s"
            )

    def stop(self, stop: Callable[[subprocess.Popen[bytes], str], None]) -> None:
        """Stop every child, the last started first; none is restarted afterwards."""
        for child in reversed(self.children):
            child.restart_at = None
            stop(child.process, child.name)
        self.children.clear()
