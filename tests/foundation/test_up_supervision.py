"""``agencyflow up`` keeps the stack running when its API or worker dies, and stops it only when told to.

The first tests drive ``cli.supervisor`` with real child processes (seconds); the last runs the real
``agencyflow up`` as a subprocess with its own home and ports (embedded PostgreSQL, Temporal dev server,
worker, API), SIGKILLs the API, and checks the rest stayed up and SIGTERM stops all of it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec

from cli.supervisor import Backoff, Supervisor, describe_exit
from core.runtime.endpoints import temporal_address
from core.runtime.lifetime import die_with_parent
from core.runtime.postgres import free_port
from core.runtime.temporal import _running, port_open
from core.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=die_with_parent()
    )


def _crasher() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], preexec_fn=die_with_parent())


def _poll_until(supervisor: Supervisor, done, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "supervisor did not get there in time"
        supervisor.poll()
        time.sleep(0.01)


def test_a_killed_child_is_restarted_and_the_restart_is_said() -> None:
    said: list[str] = []
    supervisor = Supervisor(say=said.append, backoff=Backoff(initial_s=0.05))
    first = supervisor.start("api", _sleeper)
    other = supervisor.start("worker", _sleeper)
    try:
        first.send_signal(signal.SIGKILL)
        first.wait(5)
        _poll_until(supervisor, lambda: supervisor.children[0].restarts == 1)
        again = supervisor.children[0].process
        assert again.pid != first.pid and again.poll() is None
        assert supervisor.children[1].process is other and other.poll() is None  # the other child untouched
        assert said[0] == f"api started (pid {first.pid})"
        assert re.fullmatch(
            rf"api \(pid {first.pid}\) exited with signal SIGKILL after \d+\.\d s; restarting in 0\.05 s", said[2]
        ), said
        assert said[3] == f"api restarted (pid {again.pid}, restart 1)"
    finally:
        supervisor.stop(lambda process, name: (process.kill(), process.wait(5)))
    assert again.poll() is not None and other.poll() is not None
    assert supervisor.children == []


def test_a_child_that_keeps_dying_waits_twice_as_long_each_time_up_to_the_cap() -> None:
    said: list[str] = []
    supervisor = Supervisor(say=said.append, backoff=Backoff(initial_s=0.02, maximum_s=0.08, stable_after_s=60))
    supervisor.start("worker", _crasher)
    _poll_until(supervisor, lambda: supervisor.children[0].restarts == 4)
    supervisor.stop(lambda process, name: process.wait(5))
    delays = [m.group(1) for m in (re.search(r"restarting in (\S+) s", line) for line in said) if m]
    assert delays == ["0.02", "0.04", "0.08", "0.08", "0.08"][: len(delays)] and len(delays) >= 4
    assert all("exited with code 3" in line for line in said if "restarting" in line)


def test_a_child_that_ran_long_enough_starts_again_from_the_shortest_pause() -> None:
    now = [0.0]
    said: list[str] = []
    backoff = Backoff(initial_s=1, maximum_s=30, stable_after_s=60)
    supervisor = Supervisor(say=said.append, backoff=backoff, clock=lambda: now[0])
    supervisor.start("api", _crasher)
    child = supervisor.children[0]
    for expected in (1, 2, 4):  # quick deaths: the pause doubles
        child.process.wait(5)
        supervisor.poll()
        assert child.restart_at == now[0] + expected
        now[0] = child.restart_at
        supervisor.poll()
    child.process.wait(5)
    now[0] += 61  # this run lasted longer than stable_after_s before it died
    supervisor.poll()
    assert child.restart_at == now[0] + 1
    supervisor.stop(lambda process, name: process.wait(5))
    assert backoff.delay(10) == 30 and backoff.delay(10_000) == 30


def test_exits_are_described_as_codes_or_signal_names() -> None:
    assert describe_exit(0) == "code 0"
    assert describe_exit(3) == "code 3"
    assert describe_exit(-9) == "signal SIGKILL"
    assert describe_exit(-15) == "signal SIGTERM"


def test_the_embedded_temporal_ports_are_settings(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("AGENCYFLOW_TEMPORAL_ADDRESS", raising=False)
    monkeypatch.delenv("AGENCYFLOW_TEMPORAL_UI_PORT", raising=False)
    monkeypatch.delenv("AGENCYFLOW_TEMPORAL_PORT", raising=False)
    defaults = load_settings()
    assert (defaults.temporal_port, defaults.temporal_ui_port, temporal_address(defaults)) == (
        7233,
        8233,
        "127.0.0.1:7233",
    )
    monkeypatch.setenv("AGENCYFLOW_TEMPORAL_PORT", "17433")
    second = load_settings()  # a second stack on the same machine: UI follows gRPC like Temporal's own default
    assert (second.temporal_port, second.temporal_ui_port) == (17433, 18433)
    assert temporal_address(second) == "127.0.0.1:17433"
    monkeypatch.setenv("AGENCYFLOW_TEMPORAL_UI_PORT", "18999")
    assert load_settings().temporal_ui_port == 18999
    external = msgspec.structs.replace(second, temporal_address="temporal.internal:7233")
    assert temporal_address(external) == "temporal.internal:7233"


def _wait(condition, timeout: float, what: str, up: subprocess.Popen[bytes], output: Path):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert up.poll() is None, f"up exited ({up.returncode}) waiting for {what}:\n{output.read_text()}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{output.read_text()}")


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_up_restarts_a_killed_api_keeps_postgres_and_temporal_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ports = {name: free_port() for name in ("api", "pg", "temporal", "ui")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYFLOW_")}
    env |= {
        "AGENCYFLOW_HOME": str(home),
        "AGENCYFLOW_API_PORT": str(ports["api"]),
        "AGENCYFLOW_EMBEDDED_PG_PORT": str(ports["pg"]),
        "AGENCYFLOW_TEMPORAL_PORT": str(ports["temporal"]),
        "AGENCYFLOW_TEMPORAL_UI_PORT": str(ports["ui"]),
        "AGENCYFLOW_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    output = tmp_path / "up.out"
    base = f"http://127.0.0.1:{ports['api']}"
    started = time.monotonic()
    with open(output, "wb") as handle:
        up = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "up", "--no-demo"],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),  # a killed test run takes its stack down (up stops it all on SIGTERM)
        )
    try:
        _wait(lambda: _status(f"{base}/healthz") == 200, 180, "the API", up, output)
        # The API may answer before up's own port check sees it; a child dying before that is a startup
        # failure by design, so kill only once up says it is running (and so supervising).
        _wait(lambda: "Ctrl-C stops everything" in output.read_text(), 60, "up to report it is running", up, output)
        startup_s = time.monotonic() - started
        text = output.read_text()
        api_pid = int(re.search(r"api started \(pid (\d+)\)", text).group(1))  # type: ignore[union-attr]
        worker_pid = int(re.search(r"worker started \(pid (\d+)\)", text).group(1))  # type: ignore[union-attr]
        pg_pid = int((home / "pg" / "postmaster.pid").read_text().splitlines()[0])
        temporal_pid = int((home / "temporal.db.pid").read_text())
        assert port_open("127.0.0.1", ports["temporal"]) and port_open("127.0.0.1", ports["pg"])

        killed = time.monotonic()
        os.kill(api_pid, signal.SIGKILL)
        restart = re.compile(r"api restarted \(pid (\d+), restart 1\)")
        restarted = _wait(lambda: restart.search(output.read_text()), 30, "a restart", up, output)
        _wait(lambda: _status(f"{base}/healthz") == 200, 60, "the restarted API", up, output)
        recovery_s = time.monotonic() - killed
        new_api = int(restarted.group(1))
        assert new_api != api_pid and _running(new_api) and not _running(api_pid)
        said = rf"api \(pid {api_pid}\) exited with signal SIGKILL after [\d.]+ s; restarting in 1 s"
        assert re.search(said, output.read_text()), output.read_text()
        # The rest of the stack never noticed: same processes, and the API reaches both dependencies.
        assert up.poll() is None
        assert _running(pg_pid) and _running(temporal_pid) and _running(worker_pid)
        assert _wait(lambda: _status(f"{base}/readyz") == 200, 30, "readiness", up, output)

        up.send_signal(signal.SIGTERM)
        assert up.wait(120) == 0, output.read_text()
        for pid in (new_api, worker_pid, temporal_pid, pg_pid):
            assert not _running(pid), (pid, output.read_text())
        assert not any(port_open("127.0.0.1", port) for port in ports.values())
        assert output.read_text().rstrip().endswith("stopped.")
        print(f"up started in {startup_s:.1f} s; killed API answered again after {recovery_s:.1f} s")
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait(10)
