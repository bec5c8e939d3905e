"""Every ``agencyflow`` command is run for real somewhere in the suite, not just asked for ``--help``.

``agencyflow apikey create`` crashed on every run (``asyncio.run() cannot be called from a running event
loop``) while its only test called ``--help``. ``TESTED_BY`` names, for each command the typer app has, the
test that runs it against the real database / Temporal / a subprocess; a command added without an entry
fails ``test_every_command_is_run_by_a_named_test``. Commands whose domain has its own CLI tests (billing,
plan) point there; the rest are run here, as subprocesses, the way an operator runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from cli.demo import ORGS
from cli.main import app
from core.runtime.lifetime import die_with_parent
from core.runtime.postgres import free_port
from core.secret_box import SEALED_PREFIX, SecretBox
from core.settings import app_url_for, with_database
from persistence.bootstrap import drop_database
from persistence.db import make_engine
from persistence.migrate import alembic_config, current_heads
from tests.conftest import create_migrated_database
from tests.worker_process import WorkerProcess, worker_env

ROOT = Path(__file__).resolve().parents[2]
HERE = "tests/foundation/test_cli_commands.py"
UP = "tests/foundation/test_up_supervision.py"

TESTED_BY: dict[str, list[str]] = {
    "up": [f"{UP}::test_up_restarts_a_killed_api_keeps_postgres_and_temporal_and_stops_on_sigterm"],
    "migrate": [
        f"{HERE}::test_migrate_creates_the_database_brings_it_to_head_and_steps_back_down",
        f"{HERE}::test_migrate_to_a_named_revision_stops_there_on_a_fresh_database",
    ],
    "api": [f"{HERE}::test_api_serves_until_sigterm_and_refuses_a_port_in_use"],
    "worker": [f"{HERE}::test_worker_runs_the_housekeeping_workflows_and_stops_on_sigterm"],
    "demo": [f"{HERE}::test_demo_loads_the_agency_once_starts_its_engagements_and_keeps_the_key"],
    "openapi": ["tests/foundation/test_demo_and_cli.py::test_openapi_command_prints_the_document"],
    "apikey create": [
        f"{HERE}::test_apikey_create_issues_a_working_audited_key",
        f"{HERE}::test_apikey_create_refuses_bad_input_with_a_message_not_a_traceback",
    ],
    "billing preview": ["tests/billing/test_cli.py::test_preview_json_has_the_invoice_fields_and_the_carried_state"],
    "billing simulate": ["tests/billing/test_cli.py::test_simulate_reports_per_site_differences"],
    "billing validate": ["tests/billing/test_cli.py::test_validate_lists_every_problem_and_exits_non_zero"],
    "billing schema": ["tests/billing/test_cli.py::test_schema_command_prints_the_committed_contract_schema"],
    "org create": [
        "tests/identity/test_org_cli.py::test_org_create_prints_and_mails_a_one_time_owner_invite",
        "tests/identity/test_org_cli.py::test_org_create_without_smtp_writes_the_outbox_and_refuses_bad_input",
    ],
    "org delete": [
        "tests/identity/test_org_cli.py::test_org_delete_asks_for_yes_writes_the_export_then_locks_the_owner_out"
    ],
    "secrets new-key": [f"{HERE}::test_secrets_new_key_prints_a_fresh_key_that_seals_and_opens"],
    "secrets reseal": [f"{HERE}::test_secrets_reseal_moves_every_secret_to_the_first_key"],
    "plan": ["tests/scheduling/test_cli.py::test_plan_command_prints_summary_and_writes_heatmap"],
}


def command_paths(command: Any, prefix: str = "") -> set[str]:
    """Every runnable command under ``command``, as typed after ``agencyflow`` (``apikey create``). Typer
    groups are recognised by their ``commands`` (typer vendors its own click, so no isinstance)."""
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return {prefix}
    return {path for name, sub in subcommands.items() for path in command_paths(sub, f"{prefix} {name}".strip())}


def test_every_command_is_run_by_a_named_test() -> None:
    commands = command_paths(typer.main.get_command(app))
    assert {"up", "apikey create", "secrets reseal", "billing preview"} <= commands  # the walk reaches sub-apps
    assert sorted(commands - TESTED_BY.keys()) == [], "a command without a test: add one and name it in TESTED_BY"
    assert sorted(TESTED_BY.keys() - commands) == [], "TESTED_BY names a command the app no longer has"
    for tests in TESTED_BY.values():
        for node in tests:
            path, name = node.split("::")
            source = (ROOT / path).read_text()
            assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), f"{node} does not exist"


def _env(**variables: str) -> dict[str, str]:
    """This process's environment without any ``AGENCYFLOW_*`` (the command sees only what the test sets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYFLOW_")}
    return env | {"COLUMNS": "200", "AGENCYFLOW_LOG_LEVEL": "WARNING"} | variables


def agencyflow(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def run(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``agencyflow`` in a subprocess, off the event loop the session's fixtures live on."""
    return await asyncio.to_thread(agencyflow, *args, env=env, timeout=timeout)


# --- apikey create ------------------------------------------------------------------------------------------


async def test_apikey_create_issues_a_working_audited_key(database, org, client, admin_engine, tmp_path) -> None:
    env = _env(AGENCYFLOW_DATABASE_URL=database, AGENCYFLOW_HOME=str(tmp_path))
    result = await run(
        "apikey", "create", "--org", org.slug, "--role", "finance", "--name", "ci finance", "--scope", "read", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    token = result.stdout.strip()
    assert re.fullmatch(rf"afk_{org.id.hex}_\S+", token), result.stdout

    headers = {"Authorization": f"Bearer {token}"}
    listed = await client.get("/v1/clients", headers=headers)
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()["items"]] == ["Viewer Client"]
    refused = await client.post("/v1/clients", headers=headers, json={"name": "X", "currency": "USD"})
    assert refused.status_code == 403  # a read-only key

    async with admin_engine.connect() as conn:
        key = (
            await conn.execute(
                text("SELECT id, role, scopes FROM api_keys WHERE org_id = :o AND name = 'ci finance'"), {"o": org.id}
            )
        ).one()
        audit = (
            await conn.execute(
                text(
                    "SELECT actor_type, actor_id, detail FROM audit_log "
                    "WHERE org_id = :o AND action = 'api_key.create' AND entity_id = :k"
                ),
                {"o": org.id, "k": str(key.id)},
            )
        ).one()
    assert (key.role, key.scopes) == ("finance", ["read"])
    assert (audit.actor_type, audit.actor_id) == ("cli", "agencyflow apikey")
    assert audit.detail == {"role": "finance", "scopes": ["read"]}

    # By org id too, and a client_viewer key bound to a client by its external key.
    viewer = await run(
        "apikey", "create", "--org", str(org.id), "--role", "client_viewer", "--client", "viewer-client", env=env
    )
    assert viewer.returncode == 0, viewer.stderr
    seen = await client.get("/v1/clients", headers={"Authorization": f"Bearer {viewer.stdout.strip()}"})
    assert seen.status_code == 200


async def test_apikey_create_refuses_bad_input_with_a_message_not_a_traceback(database, org, tmp_path) -> None:
    env = _env(AGENCYFLOW_DATABASE_URL=database, AGENCYFLOW_HOME=str(tmp_path))
    cases = [
        (["--org", "no-such-org", "--role", "pm"], "no organisation 'no-such-org'"),
        (["--org", org.slug, "--role", "pm", "--scope", "delete-everything"], "no scope 'delete-everything'"),
        (["--org", org.slug, "--role", "client_viewer"], "a client_viewer key needs --client"),
        (["--org", org.slug, "--role", "client_viewer", "--client", "nobody"], "no client 'nobody'"),
    ]
    for args, message in cases:
        result = await run("apikey", "create", *args, env=env)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == ""


# --- migrate, demo, secrets reseal: each on a database of its own -------------------------------------------


async def test_migrate_creates_the_database_brings_it_to_head_and_steps_back_down(pg_server_url, tmp_path) -> None:
    from alembic.script import ScriptDirectory

    name = f"af_cli_{uuid.uuid4().hex[:8]}"
    url = with_database(pg_server_url, name)
    env = _env(AGENCYFLOW_DATABASE_URL=url, AGENCYFLOW_HOME=str(tmp_path))
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        result = await run("migrate", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "database at head" in result.stdout
        head = current_heads(url)
        assert len(head) == 1

        async def version() -> str:
            async with engine.connect() as conn:
                return str((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one())

        assert await version() == head[0]
        previous = ScriptDirectory.from_config(alembic_config(url)).get_revision(head[0]).down_revision
        assert isinstance(previous, str)
        result = await run("migrate", previous, "--downgrade", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"downgraded to {previous}" in result.stdout
        await engine.dispose()
        assert await version() == previous
        result = await run("migrate", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        await engine.dispose()
        assert await version() == head[0]
    finally:
        await engine.dispose()
        await drop_database(pg_server_url, name)


async def test_migrate_to_a_named_revision_stops_there_on_a_fresh_database(pg_server_url, tmp_path) -> None:
    name = f"af_cli_{uuid.uuid4().hex[:8]}"
    url = with_database(pg_server_url, name)
    env = _env(AGENCYFLOW_DATABASE_URL=url, AGENCYFLOW_HOME=str(tmp_path))
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        result = await run("migrate", "0005_capacity", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "database at 0005_capacity" in result.stdout
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == "0005_capacity"
    finally:
        await engine.dispose()
        await drop_database(pg_server_url, name)


async def test_demo_loads_the_agency_once_starts_its_engagements_and_keeps_the_key(
    pg_server_url, temporal_address, tmp_path
) -> None:
    name = f"af_cli_{uuid.uuid4().hex[:8]}"
    env = _env(
        AGENCYFLOW_DATABASE_URL=with_database(pg_server_url, name),
        AGENCYFLOW_HOME=str(tmp_path),
        AGENCYFLOW_TEMPORAL_ADDRESS=temporal_address,
        AGENCYFLOW_TASK_QUEUE=f"cli-demo-{uuid.uuid4().hex[:6]}",  # no worker polls it: started, never run
    )
    try:
        first = await run("demo", env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        keys = re.findall(r"^(\S+)\s+org ([0-9a-f-]{36})\s+owner key (afk_\S+)$", first.stdout, re.MULTILINE)
        assert [slug for slug, *_ in keys] == [spec["slug"] for spec in ORGS], first.stdout
        assert all(token.startswith(f"afk_{uuid.UUID(org).hex}_") for _, org, token in keys)
        events = int(re.search(r"^(\d+) usage events loaded$", first.stdout, re.MULTILINE).group(1))  # type: ignore[union-attr]
        started = int(re.search(r"^(\d+) demo engagements started$", first.stdout, re.MULTILINE).group(1))  # type: ignore[union-attr]
        assert events > 0 and started > 0
        assert (tmp_path / "demo-api-key.txt").read_text().strip() == keys[0][2]

        again = await run("demo", env=env)
        assert again.returncode == 0, again.stderr
        assert "The database already has data; demo not loaded." in again.stdout
        assert "owner key" not in again.stdout
    finally:
        await drop_database(pg_server_url, name)


def test_secrets_new_key_prints_a_fresh_key_that_seals_and_opens() -> None:
    runner = CliRunner()
    first, second = (runner.invoke(app, ["secrets", "new-key"]) for _ in range(2))
    assert first.exit_code == 0 and second.exit_code == 0
    key = first.output.strip()
    assert key != second.output.strip()
    box = SecretBox([key])
    sealed = box.seal("whsec_example")
    assert sealed.startswith(SEALED_PREFIX) and box.open(sealed) == "whsec_example"


async def test_secrets_reseal_moves_every_secret_to_the_first_key(pg_server_url, tmp_path) -> None:
    runner = CliRunner()
    old, new = (runner.invoke(app, ["secrets", "new-key"]).output.strip() for _ in range(2))
    name = f"af_cli_{uuid.uuid4().hex[:8]}"
    url = await create_migrated_database(pg_server_url, name)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    org_id = uuid.uuid4()
    try:
        async with engine.begin() as conn:  # as the superuser: RLS does not apply
            await conn.execute(
                text(
                    "INSERT INTO orgs (id, name, slug, default_currency, timezone) VALUES (:o, 'R', :s, 'USD', 'UTC')"
                ),
                {"o": org_id, "s": f"reseal-{org_id.hex[:8]}"},
            )
            for n in range(2):
                await conn.execute(
                    text(
                        "INSERT INTO webhook_endpoints (id, org_id, url, secret, event_types) "
                        "VALUES (:i, :o, :u, :s, '{}')"
                    ),
                    {
                        "i": uuid.uuid4(),
                        "o": org_id,
                        "u": f"https://hooks.example/{n}",
                        "s": SecretBox([old]).seal(f"whsec_{n}"),
                    },
                )
        env = _env(AGENCYFLOW_DATABASE_URL=url, AGENCYFLOW_HOME=str(tmp_path), AGENCYFLOW_SECRET_KEYS=f"{new},{old}")
        result = await run("secrets", "reseal", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "resealed 2 secrets with the first key" in result.stdout
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT url, secret FROM webhook_endpoints ORDER BY url"))).all()
        assert [SecretBox([new]).open(secret) for _, secret in rows] == ["whsec_0", "whsec_1"]
    finally:
        await engine.dispose()
        await drop_database(pg_server_url, name)


# --- api and worker: long-running processes, started and stopped the way an operator does --------------------


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),  # a killed test run must not leave it serving
        )


async def test_api_serves_until_sigterm_and_refuses_a_port_in_use(database, temporal_address, tmp_path) -> None:
    port = free_port()
    env = _env(
        AGENCYFLOW_DATABASE_URL=database,
        AGENCYFLOW_APP_DATABASE_URL=app_url_for(database),
        AGENCYFLOW_TEMPORAL_ADDRESS=temporal_address,
        AGENCYFLOW_HOME=str(tmp_path),
        AGENCYFLOW_LOG_LEVEL="INFO",
    )
    log = tmp_path / "api.log"
    api = await asyncio.to_thread(_start, ["api", "--port", str(port)], env, log)
    try:
        deadline = time.monotonic() + 60
        while await asyncio.to_thread(_status, f"http://127.0.0.1:{port}/healthz") != 200:
            assert api.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(_status, f"http://127.0.0.1:{port}/readyz") == 200
        assert await asyncio.to_thread(_status, f"http://127.0.0.1:{port}/v1/projects") == 401

        taken = await run("api", "--port", str(port), env=env, timeout=60)
        assert taken.returncode == 2
        assert f"Port 127.0.0.1:{port} is already in use." in taken.stdout

        api.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught: exit status "killed by SIGTERM".
        assert await asyncio.to_thread(api.wait, 30) in (0, -signal.SIGTERM), log.read_text()
        assert "Application shutdown complete." in log.read_text()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if api.poll() is None:
            api.kill()
            api.wait(10)


async def test_worker_runs_the_housekeeping_workflows_and_stops_on_sigterm(
    database, app_database_url, temporal_env, admin_engine, org, tmp_path
) -> None:
    from temporalio.service import RPCError

    from workflows import names

    async def terminate_singletons() -> None:
        for workflow_id in (names.METERING_WORKFLOW_ID, names.MAINTENANCE_WORKFLOW_ID):
            with contextlib.suppress(RPCError):  # not running
                await temporal_env.client.get_workflow_handle(workflow_id).terminate("cli worker test")

    async def keys() -> set[str]:
        async with admin_engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT key FROM idempotency_keys WHERE org_id = :o AND scope = 'POST /v1/cli-test'"),
                {"o": org.id},
            )
            return {row[0] for row in rows}

    async with admin_engine.begin() as conn:
        for key, age in (("expired", "30 hours"), ("fresh", "1 hour")):
            await conn.execute(
                text(
                    "INSERT INTO idempotency_keys (org_id, scope, key, request_hash, status_code, response_body, "
                    "content_type, created_at) VALUES (:o, 'POST /v1/cli-test', :k, 'h', 201, '', "
                    f"'application/json', now() - interval '{age}')"
                ),
                {"o": org.id, "k": key},
            )
    await terminate_singletons()  # so this worker's start creates them on its own task queue
    queue = f"cli-worker-{uuid.uuid4().hex[:6]}"
    env = worker_env(
        database=database,
        app_database_url=app_database_url,
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=queue,
        AGENCYFLOW_LOG_LEVEL="INFO",
        AGENCYFLOW_HOME=str(tmp_path),
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while await keys() != {"fresh"}:
            assert worker.process is not None and worker.process.poll() is None, worker.log.read_text()
            assert time.monotonic() < deadline, worker.log.read_text()
            await asyncio.sleep(0.2)
        maintenance = await temporal_env.client.get_workflow_handle(names.MAINTENANCE_WORKFLOW_ID).describe()
        assert maintenance.task_queue == queue
        assert worker.process is not None
        worker.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.process.wait, 30) == 0
        assert "worker stopped" in worker.log.read_text()
    finally:
        worker.stop()
        await terminate_singletons()


@pytest.mark.parametrize("command", ["", *sorted(TESTED_BY)])
def test_every_command_answers_help(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
