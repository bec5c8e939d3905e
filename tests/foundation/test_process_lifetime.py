"""Processes `agencyflow up` starts do not outlive it: children die with a launcher killed by SIGKILL (which
leaves it no chance to clean up), and a Temporal dev server orphaned anyway is stopped by the next start on
the same database instead of blocking its ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.runtime.postgres import free_port
from core.runtime.temporal import TemporalDevServer, _running, port_open


def test_a_server_orphaned_by_a_killed_launcher_is_replaced_on_the_next_start(tmp_path: Path) -> None:
    db = tmp_path / "temporal.db"
    port = free_port()
    first = TemporalDevServer(db_path=db, port=port, ui_port=None, log_path=tmp_path / "temporal.log")
    first.start()
    assert first.process is not None and first.pid_path is not None
    orphan = first.process.pid
    assert first.pid_path.read_text().strip() == str(orphan)

    # The launcher dies without stopping its server: a new launcher (new object, same files) starts.
    second = TemporalDevServer(db_path=db, port=port, ui_port=None, log_path=tmp_path / "temporal.log")
    try:
        assert second.start() == f"127.0.0.1:{port}"
        assert second.process is not None and second.process.pid != orphan
        assert not _running(orphan)
        first.process.wait(5)  # reap it (here the orphan is still this test process's child)
        assert port_open("127.0.0.1", port)
        assert second.pid_path is not None and second.pid_path.read_text().strip() == str(second.process.pid)
    finally:
        second.stop()
    assert not second.pid_path.exists()
    deadline = time.monotonic() + 5
    while port_open("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not port_open("127.0.0.1", port)


def test_a_pid_file_naming_another_program_is_ignored(tmp_path: Path) -> None:
    db = tmp_path / "temporal.db"
    server = TemporalDevServer(db_path=db, port=free_port(), ui_port=None)
    assert server.pid_path is not None
    server.pid_path.write_text(f"{os.getpid()}\n")  # this test process: not a dev server on this database
    assert server._stop_orphan() is None
    assert _running(os.getpid()) and not server.pid_path.exists()


def test_children_started_to_die_with_their_parent_go_when_it_is_killed(tmp_path: Path) -> None:
    # A launcher (a real process) starts a long-running child and is then killed with SIGKILL.
    script = tmp_path / "launcher.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "from core.runtime.lifetime import die_with_parent\n"
        "child = subprocess.Popen(['sleep', '60'], start_new_session=True, preexec_fn=die_with_parent())\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parents[2]
    launcher = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, cwd=root, env={**os.environ, "PYTHONPATH": str(root)}
    )
    assert launcher.stdout is not None
    child = int(launcher.stdout.readline())
    assert _running(child)
    launcher.send_signal(signal.SIGKILL)
    launcher.wait(5)
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)
