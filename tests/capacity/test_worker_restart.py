"""A long solve survives losing its worker: the real ``agencyflow worker`` process is SIGKILLed mid-solve, a
new worker starts, Temporal retries the activity after the heartbeat timeout and the retry resumes from the
checkpointed best plan with the time that is left."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import msgspec
from sqlalchemy import text

from api.app import create_app
from core.permissions import Role
from core.settings import load_settings
from scheduling import Plan, check_plan, dump_instance, generate
from tests.capacity.conftest import make_worker, wait_for
from tests.conftest import asgi_client


class WorkerProcess:
    """The real ``agencyflow worker`` command in its own process, so it can be killed for real."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "worker"], env=self.env, stdout=handle, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


async def test_solve_survives_a_killed_worker_and_resumes_from_its_checkpoint(
    temporal_env, database, app_database_url, sessionmaker, admin_engine, org, tmp_path: Path
) -> None:
    queue = f"capacity-crash-{uuid.uuid4().hex[:8]}"
    address = temporal_env.client.service_client.config.target_host
    env = {
        **os.environ,
        "AGENCYFLOW_DATABASE_URL": database,
        "AGENCYFLOW_APP_DATABASE_URL": app_database_url,
        "AGENCYFLOW_TEMPORAL_ADDRESS": address,
        "AGENCYFLOW_TASK_QUEUE": queue,
        "AGENCYFLOW_LOG_LEVEL": "WARNING",
    }
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    settings = msgspec.structs.replace(load_settings(), task_queue=queue, temporal_address=address)
    instance = generate(60, 24, 8, seed=12)
    body = {"name": "crash", "instance": msgspec.json.decode(dump_instance(instance)), "solve": {"time_limit_s": 12}}
    try:
        async with asgi_client(create_app(settings, database_url=app_database_url)) as api:
            created = await api.post("/v1/capacity/plans", json=body, headers=org.headers(Role.DELIVERY_LEAD))
            assert created.status_code == 202, created.text
            plan_id = created.json()["id"]

            # Kill the worker once the solve has checkpointed a plan and run for a while.
            async def checkpointed() -> bool:
                async with admin_engine.connect() as conn:
                    row = (
                        await conn.execute(
                            text("SELECT checkpoint IS NOT NULL AS saved, progress FROM capacity_plans WHERE id = :id"),
                            {"id": plan_id},
                        )
                    ).one()
                return bool(row.saved and row.progress and row.progress["elapsed_s"] >= 3)

            for _ in range(300):
                if await checkpointed():
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError((tmp_path / "worker.log").read_text())
            worker.kill()
            killed_at = asyncio.get_running_loop().time()

            replacement = make_worker(temporal_env, sessionmaker, settings)
            running = asyncio.create_task(replacement.run())
            try:
                doc = await wait_for(api, org, plan_id, {"done"}, within=60)
            finally:
                await replacement.shutdown()
                await running
            elapsed = asyncio.get_running_loop().time() - killed_at
    finally:
        worker.stop()

    assert doc["attempts"] == 2
    assert any("resumed after" in note for note in doc["notes"]), doc["notes"]
    # The retry only used what was left of the 12 s (plus the 10 s heartbeat timeout and a backoff).
    assert elapsed < 10 + 12 + 8
    plan = msgspec.convert(doc["plan"], Plan, strict=False)
    assert check_plan(instance, plan).ok
    assert plan.objective >= plan.stats.greedy_objective - 1e-6
    assert doc["progress"]["attempt"] == 2 and doc["progress"]["elapsed_s"] >= 3
