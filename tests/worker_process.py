"""The real ``agencyflow worker`` command in its own process, for tests that kill it for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from core.runtime.lifetime import die_with_parent


def worker_env(
    *, database: str, app_database_url: str, temporal_address: str, task_queue: str, **extra: str
) -> dict[str, str]:
    return {
        **os.environ,
        "AGENCYFLOW_DATABASE_URL": database,
        "AGENCYFLOW_APP_DATABASE_URL": app_database_url,
        "AGENCYFLOW_TEMPORAL_ADDRESS": temporal_address,
        "AGENCYFLOW_TASK_QUEUE": task_queue,
        "AGENCYFLOW_LOG_LEVEL": "WARNING",
        **extra,
    }


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "worker"],
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),  # a killed test run must not leave workers polling
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, in-flight activities are simply lost."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
