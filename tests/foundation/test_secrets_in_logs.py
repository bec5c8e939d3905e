"""A database error on a secret-bearing write logs what failed, never the secret.

Triggers make PostgreSQL fail the write for real (a NOT NULL violation, whose DETAIL echoes the whole
failing row) on creating an API key, creating a webhook endpoint and rotating its secret. Each answers 500
and logs the traceback; the captured log lines, formatted by the JSON formatter every process uses, must
contain none of the secrets the request generated: the API token and its secret part, the stored SHA-256,
the webhook signing secret and every sealed copy. Before ``hide_parameters`` and the formatter's redaction,
the SQL parameters and the DETAIL line put the key's hash and the sealed secret into the log.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import api_keys, webhook_signature
from core.logging import JsonFormatter
from core.secret_box import SecretBox

MARK = "force-db-error"
ROTATE_MARK = "rotation-fails"
TRIGGERS = [
    """CREATE OR REPLACE FUNCTION h3_null_name() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN NEW.name := NULL; RETURN NEW; END $$""",
    """CREATE OR REPLACE FUNCTION h3_null_url() RETURNS trigger LANGUAGE plpgsql AS
       $$ BEGIN NEW.url := NULL; RETURN NEW; END $$""",
    f"""CREATE TRIGGER h3_api_key_fails BEFORE INSERT ON api_keys FOR EACH ROW
       WHEN (NEW.name = '{MARK}') EXECUTE FUNCTION h3_null_name()""",
    f"""CREATE TRIGGER h3_webhook_fails BEFORE INSERT ON webhook_endpoints FOR EACH ROW
       WHEN (NEW.description = '{MARK}') EXECUTE FUNCTION h3_null_url()""",
    f"""CREATE TRIGGER h3_rotation_fails BEFORE UPDATE ON webhook_endpoints FOR EACH ROW
       WHEN (NEW.description = '{ROTATE_MARK}' AND NEW.secret IS DISTINCT FROM OLD.secret)
       EXECUTE FUNCTION h3_null_url()""",
]
DROP = [
    "DROP TRIGGER IF EXISTS h3_api_key_fails ON api_keys",
    "DROP TRIGGER IF EXISTS h3_webhook_fails ON webhook_endpoints",
    "DROP TRIGGER IF EXISTS h3_rotation_fails ON webhook_endpoints",
    "DROP FUNCTION IF EXISTS h3_null_name()",
    "DROP FUNCTION IF EXISTS h3_null_url()",
]


@pytest.fixture
async def failing_writes(admin_engine) -> Iterator[None]:
    async with admin_engine.begin() as conn:
        for statement in TRIGGERS:
            await conn.execute(text(statement))
    yield
    async with admin_engine.begin() as conn:
        for statement in DROP:
            await conn.execute(text(statement))


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log record, as the served API would write it (``core.logging.JsonFormatter``)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


@pytest.fixture
def generated_secrets(monkeypatch) -> list[str]:
    """Every secret the requests generate or seal, recorded as it is made."""
    seen: list[str] = []
    generate, new_secret, seal = api_keys.generate, webhook_signature.new_secret, SecretBox.seal

    def recording_generate(org_id):  # type: ignore[no-untyped-def]
        key = generate(org_id)
        seen.extend([key.token, key.token.rsplit("_", 1)[-1], key.secret_hash])
        return key

    def recording_new_secret() -> str:
        secret = new_secret()
        seen.append(secret)
        return secret

    def recording_seal(self, plaintext):  # type: ignore[no-untyped-def]
        sealed = seal(self, plaintext)
        seen.append(sealed)
        return sealed

    monkeypatch.setattr(api_keys, "generate", recording_generate)
    monkeypatch.setattr(webhook_signature, "new_secret", recording_new_secret)
    monkeypatch.setattr(SecretBox, "seal", recording_seal)
    return seen


async def test_database_errors_on_secret_writes_log_no_secret(
    client, org, failing_writes, captured_logs, generated_secrets
) -> None:
    key = await client.post(
        "/v1/api-keys", json={"name": MARK, "role": "staff", "scopes": ["read"]}, headers=org.headers()
    )
    assert key.status_code == 500, key.text
    hook = {"url": "https://hooks.example.com/in", "description": MARK, "event_types": ["webhook.test"]}
    created = await client.post("/v1/webhooks", json=hook, headers=org.headers(**{"Idempotency-Key": "h3-hook"}))
    assert created.status_code == 500, created.text
    stored = await client.post("/v1/webhooks", json={**hook, "description": ROTATE_MARK}, headers=org.headers())
    assert stored.status_code == 201, stored.text
    rotated = await client.post(f"/v1/webhooks/{stored.json()['id']}/rotate-secret", headers=org.headers())
    assert rotated.status_code == 500, rotated.text
    generated_secrets.remove(stored.json()["secret"])  # shown once, by design, in the 201 (not in a log)

    logs = captured_logs.getvalue()
    assert len(generated_secrets) >= 6  # a key (token, secret, hash), two webhook secrets and their seals
    # The errors themselves are logged, with the statement and PostgreSQL's message...
    assert logs.count('"msg":"unhandled error"') == 3
    assert "null value in column" in logs and "INSERT INTO api_keys" in logs
    # ...but not the parameters, nor the DETAIL line that echoes the failing row.
    assert "Failing row contains" not in logs
    assert "[parameters:" not in logs
    leaked = [secret for secret in generated_secrets if secret in logs]
    assert leaked == []


def test_the_formatter_drops_detail_and_parameters_from_any_database_error() -> None:
    """Independent of ``hide_parameters``: an engine made elsewhere, or a DETAIL naming a unique key's value
    (tables without row-level security print it), still leaves nothing readable in the log."""
    cause = asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint")
    cause.detail = "Key (secret_hash)=(s3cr3t-hash) already exists."
    wrapped = DBAPIError("INSERT INTO api_keys (secret_hash) VALUES ($1)", ("s3cr3t-hash",), cause)
    try:
        try:
            raise cause
        except asyncpg.exceptions.UniqueViolationError as exc:
            raise wrapped from exc
    except DBAPIError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "unhandled error", (), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "s3cr3t-hash" not in line
    assert "duplicate key value violates unique constraint (SQLSTATE 23505)" in line
    assert "INSERT INTO api_keys (secret_hash) VALUES ($1)" in line
    assert "UniqueViolationError" in line
