"""A long solve survives losing its worker: the real ``agencyflow worker`` process is SIGKILLed mid-solve, a
new worker starts, Temporal retries the activity after the heartbeat timeout and the retry resumes from the
checkpointed best plan with the time that is left."""

from __future__ import annotations

import asyncio
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
from tests.worker_process import WorkerProcess, worker_env


async def test_solve_survives_a_killed_worker_and_resumes_from_its_checkpoint(
    temporal_env, database, app_database_url, sessionmaker, admin_engine, org, tmp_path: Path
) -> None:
    queue = f"capacity-crash-{uuid.uuid4().hex[:8]}"
    address = temporal_env.client.service_client.config.target_host
    env = worker_env(database=database, app_database_url=app_database_url, temporal_address=address, task_queue=queue)
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
