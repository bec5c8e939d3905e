"""How long an activity attempt may go unheard before Temporal retries it on another worker.

Every activity either heartbeats on its own (capacity solve, usage compaction) or is wrapped in
``activities.liveness.heartbeating``, so this bounds how long a crashed worker delays a workflow. Ten
seconds is far above any stall of a healthy worker's event loop and far below the start-to-close timeouts,
which stay as the bound on a live but stuck attempt.
"""

from __future__ import annotations

from datetime import timedelta

HEARTBEAT_TIMEOUT = timedelta(seconds=10)
