"""Child processes that do not outlive the process that started them.

``agencyflow up`` starts the Temporal dev server, the worker and the API as children in their own sessions
(so Ctrl-C reaches them through ``up``, which stops them in order). If ``up`` itself is killed with SIGKILL
it cannot stop them, and they would keep the ports a second ``make run`` needs. On Linux the kernel can
send each child SIGTERM when its parent dies (``PR_SET_PDEATHSIG``); elsewhere this is a no-op.

The kernel ties the signal to the *thread* that forked the child, so start such children from a thread
that lives as long as they should (the main thread, in ``up``, the benchmarks and the tests).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen`` (None where the platform has no such mechanism)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork, not in the child
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec
