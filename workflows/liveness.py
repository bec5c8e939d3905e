"""How long an activity attempt may go unheard before Temporal retries it on another worker.

Every activity uses it, wrapped in ``activities.liveness.heartbeating`` unless it heartbeats on its own
(the capacity solve); usage compaction, a loop of up to a minute, keeps its own 30 s. So this bounds how
long a crashed worker delays a workflow. Ten
seconds is far above any stall of a healthy worker's event loop and far below the start-to-close timeouts,
which stay as the bound on a live but stuck attempt.
"""

from __future__ import annotations

from datetime import timedelta

HEARTBEAT_TIMEOUT = timedelta(seconds=10)
