"""``agencyflow up``: the whole product on one machine, started in dependency order and stopped in reverse.

PostgreSQL and Temporal come first (embedded unless URLs are given), then migrations and demo data, then
the worker and the API as child processes, supervised: one that dies is restarted with backoff
(``cli.supervisor``) and the rest of the stack keeps running. Only Ctrl-C (or SIGTERM) stops the stack: the
children, then Temporal, then PostgreSQL. A second run reuses the same data under ``.agencyflow/``; a
second stack on the same machine needs its own ``AGENCYFLOW_HOME`` and ports (API, embedded PostgreSQL,
Temporal gRPC and UI).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from cli.database import prepare_database, start_postgres
from cli.demo import database_is_empty, load_demo, load_demo_usage, start_demo_engagements
from cli.supervisor import Backoff, Supervisor
from core.runtime.endpoints import temporal_address
from core.runtime.lifetime import die_with_parent
from core.runtime.postgres import port_is_free
from core.runtime.temporal import TemporalDevServer, port_open
from core.settings import Settings
from persistence.db import make_engine, make_sessionmaker

console = Console()


class StartupError(RuntimeError):
    pass


def demo_key_path(settings: Settings) -> Path:
    return settings.home / "demo-api-key.txt"


async def ensure_demo(settings: Settings, admin_url: str, app_url: str, temporal: str) -> str | None:
    admin_engine = make_engine(admin_url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(admin_engine)() as session:
            empty = await database_is_empty(session)
    finally:
        await admin_engine.dispose()
    path = demo_key_path(settings)
    if not empty:
        return path.read_text().strip() if path.exists() else None
    engine = make_engine(app_url, pool_size=2, max_overflow=0)
    try:
        sessionmaker = make_sessionmaker(engine)
        keys = await load_demo(sessionmaker)
        await load_demo_usage(sessionmaker, keys)
        await start_demo_engagements(sessionmaker, keys, temporal, settings.task_queue)
    finally:
        await engine.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(keys[0].token + "\n")
    path.chmod(0o600)
    return keys[0].token


def _wait_http(url_host: str, port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(f"process exited early with code {process.returncode}")
        if port_open(url_host, port):
            return
        time.sleep(0.1)
    raise StartupError(f"nothing listening on {url_host}:{port} after {timeout:.0f} s")


def _child(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent(),  # from the main thread, which outlives the child
    )


def _stop(process: subprocess.Popen[bytes] | None, name: str, timeout: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        console.print(f"[yellow]{name} did not stop in {timeout:.0f} s; killing it[/]")
        process.kill()
        process.wait(5)


def _say(message: str) -> None:
    """A supervision event, timestamped, on ``up``'s output (one line: never wrapped, never highlighted)."""
    console.print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", soft_wrap=True, highlight=False)


def run_stack(settings: Settings, *, with_demo: bool = True, backoff: Backoff | None = None) -> int:
    started = time.monotonic()
    settings.home.mkdir(parents=True, exist_ok=True)
    logs = settings.home / "logs"
    logs.mkdir(exist_ok=True)
    if not port_is_free(settings.api_host, settings.api_port):
        console.print(
            f"[red]Port {settings.api_host}:{settings.api_port} is already in use.[/] Stop the other program "
            "(another `make run`?) or set AGENCYFLOW_API_PORT."
        )
        return 2
    temporal: TemporalDevServer | None = None
    supervisor = Supervisor(say=_say, backoff=backoff or Backoff())
    stopping = False
    abort_on_signal = True

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if abort_on_signal:  # while starting, abort whatever step is running
            raise KeyboardInterrupt
        # While supervising, the loop notices the flag (raising here could land inside a restart's fork
        # and lose track of the child just started); while stopping, a second signal must not cut the
        # stop short and leave Temporal or PostgreSQL running.

    # Both explicitly: a shell starting us in the background sets SIGINT to "ignore", which we inherit.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pg_server = None
    try:
        console.print("[bold]agencyflow[/] starting…")
        admin_url, pg_server = start_postgres(settings)
        console.print(f"  PostgreSQL   {'embedded, data in ' + str(settings.pg_data_dir) if pg_server else 'external'}")
        app_url = prepare_database(admin_url)
        console.print("  migrations   applied")
        if settings.temporal_address is None:
            temporal = TemporalDevServer(
                db_path=settings.temporal_db_path,
                port=settings.temporal_port,
                ui_port=settings.temporal_ui_port,
                log_path=logs / "temporal.log",
            )
            temporal.start()
            console.print(f"  Temporal     dev server, state in {settings.temporal_db_path}")
        else:
            console.print(f"  Temporal     {settings.temporal_address}")
        token = (
            asyncio.run(ensure_demo(settings, admin_url, app_url, temporal_address(settings))) if with_demo else None
        )
        env = {
            **os.environ,
            "AGENCYFLOW_DATABASE_URL": admin_url,
            "AGENCYFLOW_APP_DATABASE_URL": app_url,
            "AGENCYFLOW_TEMPORAL_ADDRESS": temporal_address(settings),
            "AGENCYFLOW_HOME": str(settings.home),
        }
        supervisor.start("worker", lambda: _child(["worker"], env, logs / "worker.log"))
        api = supervisor.start("api", lambda: _child(["api"], env, logs / "api.log"))
        _wait_http(settings.api_host, settings.api_port, api, timeout=60)
        base = f"http://{settings.api_host}:{settings.api_port}"
        lines = [
            f"API          {base}   (docs: {base}/schema, swagger: {base}/schema/swagger)",
            f"Ready check  {base}/readyz",
        ]
        if temporal is not None:
            lines.append(f"Temporal UI  http://127.0.0.1:{settings.temporal_ui_port}")
        lines.append(f"Logs         {logs}")
        lines.append(f"Started in {time.monotonic() - started:.1f} s. Ctrl-C stops everything.")
        console.print(Panel("\n".join(lines), title="agencyflow is running", expand=False))
        if token:
            # Outside the panel so the long token is never wrapped when copied.
            console.print("Demo API key (owner of the demo org 'northwind'):", soft_wrap=True)
            console.print(token, soft_wrap=True, highlight=False)
            console.print(
                f"Try: curl -H 'Authorization: Bearer {token}' {base}/v1/projects",
                soft_wrap=True,
                highlight=False,
            )
        abort_on_signal = False
        while not stopping:
            supervisor.poll()
            time.sleep(0.2)
        console.print("\nstopping…")
        return 0
    except KeyboardInterrupt:
        console.print("\nstopping…")
        return 0
    except Exception as exc:
        console.print(f"[red]agencyflow could not run:[/] {exc}")
        return 1
    finally:
        abort_on_signal = False
        started_children = bool(supervisor.children)
        supervisor.stop(_stop)
        if temporal is not None:
            temporal.stop()
        if pg_server is not None:
            pg_server.stop()
        if stopping or started_children:
            console.print("stopped.")
