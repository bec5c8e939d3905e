"""Servers a test session started outlive it when pytest is killed outright (SIGKILL, an OOM kill, a CI
timeout): an embedded PostgreSQL and a Temporal dev server keep memory, ports and /tmp space until someone
notices. Each session records itself as their owner; the next session stops what a vanished owner left.

Only what a session registered is ever touched, and a registered process is only signalled if it is still
the same process (its start time matches): a recycled pid is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import psutil

from core.runtime.postgres import EmbeddedPostgres

PG_ROOT_PREFIX = "agencyflow-test-pg-"
OWNER_FILE = "owner.pid"


def registry() -> Path:
    path = Path(tempfile.gettempdir()) / "agencyflow-test-servers"
    path.mkdir(exist_ok=True)
    return path


def new_postgres_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix=PG_ROOT_PREFIX))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    return root


def register_children(executable: str) -> list[int]:
    """Record this process as the owner of its children running ``executable`` (the Temporal dev server)."""
    registered = []
    for child in psutil.Process().children(recursive=True):
        try:
            if Path(child.exe()).resolve() != Path(executable).resolve():
                continue
            record = {"owner": os.getpid(), "pid": child.pid, "started": child.create_time()}
        except psutil.Error:
            continue
        (registry() / f"{child.pid}.json").write_text(json.dumps(record))
        registered.append(child.pid)
    return registered


def _owner_gone(owner: int) -> bool:
    return owner != os.getpid() and not psutil.pid_exists(owner)


def sweep() -> list[str]:
    """Stop and remove what sessions that no longer exist left running; returns what was cleaned."""
    cleaned = []
    for root in Path(tempfile.gettempdir()).glob(PG_ROOT_PREFIX + "*"):
        try:
            owner = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # another session is still creating it, or it predates owner files
        if _owner_gone(owner):
            EmbeddedPostgres(root / "pg", 0).stop()
            shutil.rmtree(root, ignore_errors=True)
            cleaned.append(str(root))
    for entry in registry().glob("*.json"):
        try:
            record = json.loads(entry.read_text())
        except (OSError, ValueError):
            continue
        if not _owner_gone(record["owner"]):
            continue
        try:
            process = psutil.Process(record["pid"])
            if abs(process.create_time() - record["started"]) < 0.01:
                process.terminate()
                try:
                    process.wait(10)
                except psutil.TimeoutExpired:
                    process.kill()
                cleaned.append(f"pid {record['pid']}")
        except psutil.Error:
            pass
        entry.unlink(missing_ok=True)
    return cleaned


def forget_children(pids: list[int]) -> None:
    for pid in pids:
        (registry() / f"{pid}.json").unlink(missing_ok=True)
