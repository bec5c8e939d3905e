"""Every amount, rate and quantity is written as a plain fixed-point decimal (issue 14, item 2).

msgspec writes a Decimal with ``str()``, which turns a yen subtotal into ``"8.5E+5"`` and a budget of 100000
sent as ``1.0e5`` into ``"1.0E+5"``. The walk below loads the demo agency (orgs, usage, budgets, contracts with
their first drafted month, a JPY one among them), GETs every list and read route of the OpenAPI document and
asserts that no string in any response looks like a number in exponent notation (or NaN / Infinity).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import text
from temporalio.worker import Worker

import billing
from activities.registry import build_activities
from api.app import create_app
from billing.inputs import RatingInputs, UsageAggregate
from cli.demo import DEMO_CONTRACTS, load_demo, load_demo_usage, start_demo_engagements
from cli.worker import sandbox_runner
from core import plain_decimal
from core.settings import app_url_for, load_settings
from persistence.bootstrap import drop_database
from persistence.db import make_engine, make_sessionmaker
from tests.conftest import asgi_client, create_migrated_database
from tests.engagements.conftest import eventually
from workflows.converter import DATA_CONVERTER
from workflows.registry import WORKFLOWS

PLAIN = re.compile(r"^-?\d+(\.\d+)?$")
NUMBER_LIKE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(NaN|sNaN|Infinity|inf)$", re.IGNORECASE)

JPY = b"""
contract_id: yen
currency: JPY
timezone: Asia/Tokyo
start_date: 2025-01-01
versions:
  - effective_from: 2025-01
    retainers: [{id: r, amount: "700000", billing: arrears}]
    usage_charges:
      - {id: tokens, meter: tokens, pricing: {model: per_unit, unit_price: "0.00000025"}}
      - {id: calls, meter: calls, pricing: {model: per_unit, unit_price: "1.5"}}
    tax: {rates: [{id: ct, percent: "10"}], default: ct}
"""


def _bad_strings(value: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)] if NUMBER_LIKE.match(value) and not PLAIN.match(value) else []
    if isinstance(value, dict):
        return [bad for k, v in value.items() for bad in _bad_strings(v, f"{path}/{k}")]
    if isinstance(value, list):
        return [bad for i, v in enumerate(value) for bad in _bad_strings(v, f"{path}/{i}")]
    return []


def test_engine_output_is_fixed_point_in_every_encoding() -> None:
    terms = billing.load_terms(JPY)
    usage = [
        UsageAggregate(meter="tokens", quantity=Decimal("400000000")),  # 100 yen
        UsageAggregate(meter="calls", quantity=Decimal("100000")),  # 150,000 yen
    ]
    draft, state = billing.rate(terms, RatingInputs(usage=usage), None, "2025-01")
    assert draft.subtotal == Decimal("850100")
    payloads = [billing.encode(draft), billing.encode(state), msgspec.json.encode(billing.to_builtins(draft))]
    payloads.append(DATA_CONVERTER.payload_converter.to_payloads([draft])[0].data)
    for data in payloads:
        assert _bad_strings(msgspec.json.decode(data)) == []
    out = msgspec.json.decode(payloads[0])
    assert sorted(ln["unit_price"] for ln in out["lines"] if ln["unit_price"]) == ["0.00000025", "1.5", "700000"]
    assert out["subtotal"] == "850100" and out["total"] == "935110"


def test_the_plain_encoder_changes_decimals_only() -> None:
    class Doc(msgspec.Struct):
        amount: Decimal
        label: str
        nested: dict[str, Any]

    doc = Doc(Decimal("8.5E+5"), "1E+5", {"tiny": Decimal("2.5E-7"), "zero": Decimal("0E-2")})
    expected = b'{"amount":"850000","label":"1E+5","nested":{"tiny":"0.00000025","zero":"0.00"}}'
    assert plain_decimal.encode(doc) == expected
    assert msgspec.json.encode(doc) != plain_decimal.encode(doc)  # what msgspec alone writes


async def test_every_response_of_the_demo_agency_writes_plain_decimals(pg_server_url, temporal_env, tmp_path) -> None:
    name = f"af_plain_{uuid.uuid4().hex[:8]}"
    admin_url = await create_migrated_database(pg_server_url, name)
    engine = make_engine(app_url_for(admin_url), pool_size=5, max_overflow=5)
    admin = make_engine(admin_url, pool_size=1, max_overflow=1)
    queue = f"plain-{uuid.uuid4().hex[:6]}"
    address = temporal_env.client.service_client.config.target_host
    settings = msgspec.structs.replace(
        load_settings(), task_queue=queue, ledger_dir=tmp_path, temporal_address=address
    )
    try:
        sessionmaker = make_sessionmaker(engine)
        keys = await load_demo(sessionmaker)
        await load_demo_usage(sessionmaker, keys)
        assert await start_demo_engagements(sessionmaker, keys, address, queue) == len(DEMO_CONTRACTS)
        worker = Worker(
            temporal_env.client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=build_activities(sessionmaker=sessionmaker, settings=settings),
            workflow_runner=sandbox_runner(),
        )
        running = asyncio.create_task(worker.run())

        async def drafted() -> bool:
            async with admin.connect() as conn:
                n = (await conn.execute(text("SELECT count(*) FROM invoices WHERE status = 'draft'"))).scalar_one()
            return n == len(DEMO_CONTRACTS)

        try:
            await eventually(drafted, timeout=120)
        finally:
            await worker.shutdown()
            await running
        app = create_app(settings, database_url=app_url_for(admin_url))
        paths = [p for p, ops in app.openapi_schema.to_schema()["paths"].items() if "get" in ops]
        async with asgi_client(app) as http:
            bad: list[tuple[str, str, str]] = []
            answered: list[str] = []
            for key in keys:
                auth = {"Authorization": f"Bearer {key.token}"}
                # numbers sent in exponent notation come back in plain form
                clients = (await http.get("/v1/clients", headers=auth)).json()["items"]
                meters = (await http.get("/v1/meters", headers=auth)).json()["items"]
                if meters:
                    created = await http.post(
                        "/v1/usage/budgets",
                        headers={**auth, "Content-Type": "application/json"},
                        content=b'{"client_id":"%s","meter":"%s","limit":1.0e5,"kind":"provider_cost","period":"day"}'
                        % (clients[0]["id"].encode(), meters[0]["key"].encode()),
                    )
                    assert created.status_code == 201, created.text
                    assert created.json()["limit"] == "100000"
                ids: dict[str, str] = {}
                for path in paths:
                    concrete = await _concrete(http, auth, path, ids)
                    if concrete is None:
                        continue
                    response = await http.get(concrete, headers=auth)
                    if not response.headers.get("content-type", "").endswith("json"):
                        continue
                    if response.status_code == 200:
                        answered.append(path)
                    bad += [(concrete, p, v) for p, v in _bad_strings(response.json())]
            assert bad == []
            # the walk reached the money: invoices (a JPY one among them), contracts, usage and budgets
            for must in ("/v1/invoices", "/v1/invoices/{invoice_id}", "/v1/contracts", "/v1/usage/budgets"):
                assert must in answered, must
            assert len(answered) >= 40, answered
    finally:
        await engine.dispose()
        await admin.dispose()
        await drop_database(pg_server_url, name)


async def _concrete(http: Any, auth: dict[str, str], path: str, ids: dict[str, str]) -> str | None:
    """Fill each ``{param}`` with the first id listed by the path before it (``/v1/clients/{client_id}``)."""
    out = ""
    for part in path.strip("/").split("/"):
        if part.startswith("{"):
            if out not in ids:
                response = await http.get(out, headers=auth)
                body = response.json() if response.status_code == 200 else None
                items = body.get("items") if isinstance(body, dict) else body
                if not items or not isinstance(items[0], dict) or "id" not in items[0]:
                    return None
                ids[out] = str(items[0]["id"])
            out += "/" + ids[out]
        else:
            out += "/" + part
    return out


def test_dates_and_ids_are_not_taken_for_numbers() -> None:
    assert not NUMBER_LIKE.match(date(2026, 1, 1).isoformat())
    assert NUMBER_LIKE.match("8.5E+5") and not PLAIN.match("8.5E+5")


def test_cli_tables_and_the_ledger_print_plain_amounts() -> None:
    from datetime import date as _date

    from cli.billing import _money
    from integrations.accounting.beancount_payload import transaction_text
    from integrations.accounting.model import LedgerInvoice, LedgerLine, RevenueAccount

    assert _money(Decimal("8.5E+5")) == "850,000"
    assert _money(Decimal("0E-2")) == "0.00"
    invoice = LedgerInvoice(
        invoice_id="i-1",
        number="INV-1",
        period="2025-01",
        issue_date=_date(2025, 2, 1),
        client_key="sakura",
        client_name="Sakura",
        currency="JPY",
        lines=(LedgerLine(account=RevenueAccount.AI_USAGE, amount=Decimal("8.5E+5")),),
        taxes=(),
        total=Decimal("8.5E+5"),
    )
    text = transaction_text(invoice)
    assert "850000 JPY" in text and "E+" not in text


def test_trace_sentences_write_plain_numbers() -> None:
    from billing.explain import _d

    assert _d(Decimal("8.5E+5")) == "850,000"
    assert _d(Decimal("2.5E-7")) == "0.00000025"
