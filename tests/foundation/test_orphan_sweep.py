"""A test session killed outright leaves its servers behind; the next session stops exactly those."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil

from core.runtime.postgres import EmbeddedPostgres, free_port, port_is_free
from tests import orphans


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def record(pid: int, owner: int, started: float) -> None:
    (orphans.registry() / f"{pid}.json").write_text(json.dumps({"owner": owner, "pid": pid, "started": started}))


def test_a_postgres_left_by_a_killed_session_is_stopped_and_removed() -> None:
    orphaned = orphans.new_postgres_root()
    (orphaned / orphans.OWNER_FILE).write_text(str(dead_pid()))
    server = EmbeddedPostgres(orphaned / "pg", free_port(), tuned_for_tests=True)
    server.start()
    ours = orphans.new_postgres_root()  # a live session's (this one's) root is not touched
    try:
        assert not port_is_free(server.host, server.port)
        assert str(orphaned) in orphans.sweep()
        assert not orphaned.exists()
        assert port_is_free(server.host, server.port)
        assert ours.exists()
    finally:
        server.stop()
        ours.joinpath(orphans.OWNER_FILE).unlink()
        ours.rmdir()


def test_a_registered_server_of_a_vanished_owner_is_terminated_but_a_recycled_pid_is_not() -> None:
    orphan = subprocess.Popen(["sleep", "60"])
    bystander = subprocess.Popen(["sleep", "60"])
    alive = subprocess.Popen(["sleep", "60"])
    try:
        gone = dead_pid()
        record(orphan.pid, gone, psutil.Process(orphan.pid).create_time())
        record(bystander.pid, gone, psutil.Process(bystander.pid).create_time() - 5)  # pid reused since
        record(alive.pid, psutil.Process().pid, psutil.Process(alive.pid).create_time())  # owner still here
        cleaned = orphans.sweep()
        assert f"pid {orphan.pid}" in cleaned
        assert not psutil.pid_exists(orphan.pid), "terminated and reaped by the sweep"
        time.sleep(0.2)
        assert bystander.poll() is None and alive.poll() is None
        assert not (orphans.registry() / f"{bystander.pid}.json").exists(), "a stale record is dropped"
        assert (orphans.registry() / f"{alive.pid}.json").exists()
    finally:
        for process in (orphan, bystander, alive):
            process.kill()
            process.wait()
        orphans.forget_children([alive.pid])
