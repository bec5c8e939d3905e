"""A realistic demo agency: two orgs, a dozen people, six clients across currencies and time zones
(one with four sites), ten projects, and an owner API key per org.

Everything is written through the app role under row-level security, exactly as the API would write it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client as TemporalClient

import billing
from core.ids import new_id
from core.permissions import Role, Scope
from persistence import audit
from persistence.api_key_store import issue_key
from persistence.contract_store import create_contract
from persistence.db import tenant_session
from persistence.models import Client, Membership, Org, Person, Project, Site
from workflows.converter import DATA_CONVERTER
from workflows.inputs import CycleConfig
from workflows.starters import start_engagement

DEMO_ACTOR = audit.Actor(type="cli", id="agencyflow demo")


@dataclass(frozen=True)
class DemoKeys:
    org_slug: str
    org_id: uuid.UUID
    token: str


ORGS = [
    {
        "slug": "northwind",
        "name": "Northwind AI Studio",
        "currency": "USD",
        "timezone": "America/New_York",
        "people": [
            (
                "Ada Okafor",
                "ada@northwind.example",
                "owner",
                "principal",
                "140",
                "40",
                "US",
                {"strategy": 5, "llm": 4},
            ),
            (
                "Ben Lindqvist",
                "ben@northwind.example",
                "admin",
                "ops_manager",
                "90",
                "40",
                "US",
                {"operations": 4},
            ),
            (
                "Chloe Martin",
                "chloe@northwind.example",
                "finance",
                "controller",
                "85",
                "32",
                "US",
                {"finance": 5},
            ),
            (
                "Dev Patel",
                "dev@northwind.example",
                "delivery_lead",
                "delivery_lead",
                "110",
                "40",
                "US",
                {"delivery": 5, "python": 4},
            ),
            ("Elena Rossi", "elena@northwind.example", "pm", "project_manager", "80", "40", "US", {"pm": 4}),
            (
                "Farid Haddad",
                "farid@northwind.example",
                "staff",
                "ml_engineer",
                "95",
                "40",
                "US",
                {"python": 5, "llm": 5, "mlops": 4},
            ),
            (
                "Grace Kim",
                "grace@northwind.example",
                "staff",
                "data_engineer",
                "88",
                "40",
                "US",
                {"python": 4, "sql": 5},
            ),
            (
                "Hiro Tanaka",
                "hiro@northwind.example",
                "staff",
                "frontend_engineer",
                "75",
                "32",
                "US",
                {"typescript": 5, "design": 3},
            ),
        ],
        "clients": [
            (
                "Helios Health",
                "helios-health",
                "USD",
                "America/Chicago",
                {"rate": "0.0825", "tax_id": "US-TX-3221"},
                [
                    ("chicago", "Chicago HQ"),
                    ("dallas", "Dallas Clinic"),
                    ("denver", "Denver Lab"),
                    ("phoenix", "Phoenix Call Center"),
                ],
            ),
            ("Sakura Logistics", "sakura-logistics", "JPY", "Asia/Tokyo", {"rate": "0.10"}, []),
            ("Gulf Retail Group", "gulf-retail", "KWD", "Asia/Kuwait", {"rate": "0", "exempt": True}, []),
            (
                "Maple Legal",
                "maple-legal",
                "CAD",
                "America/Toronto",
                {"rate": "0.13", "tax_id": "CA-ON-77"},
                [],
            ),
        ],
        "projects": [
            ("HEL-TRIAGE", "Clinical triage assistant", "helios-health", "mixed", "2026-01-05", "2026-12-18"),
            ("HEL-DOCS", "Document intake automation", "helios-health", "usage", "2026-03-02", None),
            ("HEL-RET", "Platform retainer", "helios-health", "retainer", "2026-01-01", None),
            (
                "SAK-ROUTE",
                "Route-planning copilot",
                "sakura-logistics",
                "t_and_m",
                "2026-04-01",
                "2026-10-30",
            ),
            ("GULF-CX", "Customer support agent", "gulf-retail", "fixed_fee", "2026-05-04", "2026-09-25"),
            ("MAP-DISC", "E-discovery search", "maple-legal", "t_and_m", "2026-06-01", None),
            ("MAP-RET", "Legal AI retainer", "maple-legal", "retainer", "2026-02-01", None),
        ],
    },
    {
        "slug": "kestrel",
        "name": "Kestrel Digital",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "people": [
            ("Ines Duarte", "ines@kestrel.example", "owner", "principal", "120", "40", "DE", {"strategy": 5}),
            (
                "Jonas Weber",
                "jonas@kestrel.example",
                "finance",
                "accountant",
                "70",
                "40",
                "DE",
                {"finance": 4},
            ),
            (
                "Katarzyna Nowak",
                "kasia@kestrel.example",
                "pm",
                "project_manager",
                "72",
                "40",
                "PL",
                {"pm": 4},
            ),
            (
                "Luca Bianchi",
                "luca@kestrel.example",
                "staff",
                "ml_engineer",
                "82",
                "40",
                "IT",
                {"python": 4, "llm": 4},
            ),
        ],
        "clients": [
            ("Alpen Versicherung", "alpen-insurance", "CHF", "Europe/Zurich", {"rate": "0.081"}, []),
            (
                "Thames Media",
                "thames-media",
                "GBP",
                "Europe/London",
                {"rate": "0.20", "tax_id": "GB123456789"},
                [],
            ),
        ],
        "projects": [
            ("ALP-CLAIMS", "Claims summarisation", "alpen-insurance", "mixed", "2026-02-02", None),
            ("THM-SUBS", "Subtitle generation pipeline", "thames-media", "usage", "2026-03-16", None),
            ("THM-RET", "Editorial tooling retainer", "thames-media", "retainer", "2026-01-01", "2026-12-31"),
        ],
    },
]


async def database_is_empty(admin_session: AsyncSession) -> bool:
    """Checked as the owner/admin: under RLS the app role could not see other orgs to count them."""
    return (await admin_session.execute(text("SELECT count(*) FROM orgs"))).scalar_one() == 0


async def _load_org(sessionmaker: async_sessionmaker[AsyncSession], spec: dict) -> DemoKeys:  # type: ignore[type-arg]
    org_id = new_id()
    async with tenant_session(sessionmaker, org_id) as session:
        session.add(
            Org(
                id=org_id,
                name=spec["name"],
                slug=spec["slug"],
                default_currency=spec["currency"],
                timezone=spec["timezone"],
            )
        )
        await session.flush()
        clients: dict[str, Client] = {}
        for name, key, currency, tz, tax, sites in spec["clients"]:
            client = Client(
                org_id=org_id,
                name=name,
                external_key=key,
                currency=currency,
                timezone=tz,
                tax=tax,
                billing_address={
                    "line1": "1 Demo Street",
                    "city": tz.split("/")[-1].replace("_", " "),
                    "country": "US",
                },
            )
            session.add(client)
            await session.flush()
            clients[key] = client
            for code, site_name in sites:
                session.add(Site(org_id=org_id, client_id=client.id, code=code, name=site_name))
        owner_user: uuid.UUID | None = None
        for name, email, role, job, cost, capacity, country, skills in spec["people"]:
            user_id = (
                await session.execute(
                    text("SELECT af_ensure_user(:id, :email, :name)"),
                    {"id": new_id(), "email": email, "name": name},
                )
            ).scalar_one()
            session.add(Membership(org_id=org_id, user_id=user_id, role=role))
            session.add(
                Person(
                    org_id=org_id,
                    user_id=user_id,
                    name=name,
                    email=email,
                    role=job,
                    cost_rate=Decimal(cost),
                    cost_currency=spec["currency"],
                    weekly_capacity_hours=Decimal(capacity),
                    country=country,
                    skills=skills,
                )
            )
            if role == Role.OWNER.value:
                owner_user = user_id
        viewer_client = clients[spec["clients"][0][1]]
        viewer = (
            await session.execute(
                text("SELECT af_ensure_user(:id, :email, :name)"),
                {"id": new_id(), "email": f"viewer@{spec['clients'][0][1]}.example", "name": "Client Viewer"},
            )
        ).scalar_one()
        session.add(
            Membership(org_id=org_id, user_id=viewer, role=Role.CLIENT_VIEWER.value, client_id=viewer_client.id)
        )
        for code, name, client_key, mode, start, end in spec["projects"]:
            session.add(
                Project(
                    org_id=org_id,
                    client_id=clients[client_key].id,
                    code=code,
                    name=name,
                    billing_mode=mode,
                    status="active",
                    start_date=date.fromisoformat(start),
                    end_date=date.fromisoformat(end) if end else None,
                )
            )
        await session.flush()
        key, token = await issue_key(
            session,
            org_id=org_id,
            name="demo owner key",
            role=Role.OWNER.value,
            scopes=[s.value for s in Scope],
            user_id=owner_user,
        )
        await audit.record(
            session,
            org_id=org_id,
            actor=DEMO_ACTOR,
            action="demo.load",
            entity_type="org",
            entity_id=org_id,
            detail={"api_key": str(key.id)},
        )
    return DemoKeys(spec["slug"], org_id, token)


async def load_demo(sessionmaker: async_sessionmaker[AsyncSession]) -> list[DemoKeys]:
    return [await _load_org(sessionmaker, spec) for spec in ORGS]


# ---- engagements ----------------------------------------------------------------------------------------
# Contracts for three demo clients. They start on the first of last month (when the demo usage begins), so a
# fresh demo already has a closed month: finance finds draft invoices waiting for approval, and each approval
# releases the next month's cycle.
DEMO_CONTRACTS: list[dict[str, Any]] = [
    {
        "org": "northwind",
        "client": "helios-health",
        "code": "HEL-MSA",
        "name": "Helios AI platform MSA",
        "terms": {
            "start_date": "2026-10-01",
            "contract_year_anchor": "2026-01",
            "default_site": "chicago",
            "versions": [
                {
                    "effective_from": "2026-10",
                    "label": "MSA 2026",
                    "sites": [
                        {"id": c, "name": n}
                        for c, n in (
                            ("chicago", "Chicago HQ"),
                            ("dallas", "Dallas Clinic"),
                            ("denver", "Denver Lab"),
                            ("phoenix", "Phoenix Call Center"),
                        )
                    ],
                    "retainers": [
                        {
                            "id": "platform",
                            "description": "Platform operations retainer",
                            "amount": "4500.00",
                            "billing": "arrears",
                        }
                    ],
                    "usage_charges": [
                        {
                            "id": f"docs-{category}",
                            "meter": "documents",
                            "description": f"{category.title()} documents",
                            "unit": "pages",
                            "filter": {"category": category},
                            "pricing": {"model": "per_unit", "unit_price": price},
                        }
                        for category, price in (
                            ("invoice", "0.04"),
                            ("contract", "0.12"),
                            ("claim", "0.08"),
                            ("email", "0.01"),
                        )
                    ],
                    "minimums": [
                        {
                            "id": "site-minimum",
                            "description": "Monthly site minimum",
                            "amount": "250.00",
                            "per_site": True,
                            "scope": {"categories": ["invoice", "contract", "claim", "email"]},
                        }
                    ],
                    "annual_caps": [
                        {"id": "site-cap", "description": "Annual site cap", "amount": "9000.00", "per_site": True}
                    ],
                    "tax": {"rates": [{"id": "tx", "name": "Texas sales tax", "percent": "8.25"}], "default": "tx"},
                }
            ],
        },
    },
    {
        "org": "northwind",
        "client": "sakura-logistics",
        "code": "SAK-RET",
        "name": "Route-planning copilot retainer",
        "terms": {
            "start_date": "2026-10-01",
            "versions": [
                {
                    "effective_from": "2026-10",
                    "retainers": [
                        {
                            "id": "copilot",
                            "description": "Copilot operations retainer",
                            "amount": "850000",
                            "billing": "arrears",
                        }
                    ],
                    "tax": {"rates": [{"id": "jct", "name": "JCT 10%", "percent": "10"}], "default": "jct"},
                }
            ],
        },
    },
    {
        "org": "kestrel",
        "client": "thames-media",
        "code": "THM-RET",
        "name": "Editorial tooling retainer",
        "terms": {
            "start_date": "2026-10-01",
            "versions": [
                {
                    "effective_from": "2026-10",
                    "retainers": [
                        {
                            "id": "tooling",
                            "description": "Editorial tooling retainer",
                            "amount": "6200.00",
                            "billing": "arrears",
                        }
                    ],
                    "tax": {"rates": [{"id": "vat", "name": "VAT 20%", "percent": "20"}], "default": "vat"},
                }
            ],
        },
    },
]


def _starting_last_month(terms: dict[str, Any]) -> dict[str, Any]:
    """Demo contracts begin on the first day of last month, when the demo usage begins, whatever today is."""
    today = datetime.now(UTC).date()
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    period = first.strftime("%Y-%m")
    versions = [{**terms["versions"][0], "effective_from": period}, *terms["versions"][1:]]
    return {**terms, "start_date": first.isoformat(), "versions": versions}


async def start_demo_engagements(
    sessionmaker: async_sessionmaker[AsyncSession], keys: list[DemoKeys], temporal_address: str, task_queue: str
) -> int:
    """Create the demo contracts and start their engagement workflows; returns how many were started."""
    orgs = {key.org_slug: key.org_id for key in keys}
    temporal = await TemporalClient.connect(temporal_address, data_converter=DATA_CONVERTER)
    started = 0
    for spec in DEMO_CONTRACTS:
        org_id = orgs[spec["org"]]
        async with tenant_session(sessionmaker, org_id) as session:
            client = (await session.execute(select(Client).where(Client.external_key == spec["client"]))).scalar_one()
            document = {
                **_starting_last_month(spec["terms"]),
                "contract_id": spec["code"],
                "client": client.name,
                "client_key": client.external_key,
                "currency": client.currency,
                "timezone": client.timezone,
            }
            terms, problems = billing.parse_terms(msgspec.json.encode(document))
            if terms is None or billing.validate_terms(terms):
                raise ValueError(
                    f"demo contract {spec['code']} is invalid: {problems or billing.validate_terms(terms)}"
                )
            contract = await create_contract(
                session, org_id=org_id, client=client, code=spec["code"], name=spec["name"], terms=terms
            )
            await audit.record(
                session,
                org_id=org_id,
                actor=DEMO_ACTOR,
                action="contract.create",
                entity_type="contract",
                entity_id=contract.id,
            )
        await start_engagement(
            temporal,
            task_queue=task_queue,
            workflow_id=contract.workflow_id,
            org_id=str(org_id),
            contract_id=str(contract.id),
            client_id=str(client.id),
            client_key=client.external_key,
            timezone=terms.timezone,
            start_period=contract.start_period,
            end_period=contract.end_period,
            terms_versions=contract.terms_versions,
            config=CycleConfig(grace_s=60, remind_after_s=2 * 86400, escalate_after_s=5 * 86400),
        )
        started += 1
    return started


# ---- metering demo data (issue 5) ------------------------------------------------------------------------------


async def load_demo_usage(sessionmaker: async_sessionmaker[AsyncSession], keys: list[DemoKeys]) -> int:
    """Metering demo (issue 5): three meters per demo org, a usage budget, and ~two months of
    realistic AI usage for every client (tokens by model and site, documents by category), sent through the
    real ingest path (validation, dedupe, late flags), then folded into the rollups. Returns the number of
    events stored. Safe to call once after ``load_demo``; meters already present are left alone.
    """
    import random
    from datetime import UTC, datetime, timedelta

    from persistence import ingest, metering_jobs
    from persistence.models import Meter, UsageBudget

    models = [("gpt-4o", 0.0000050), ("gpt-4o-mini", 0.00000015), ("claude-sonnet", 0.0000030), ("embed-3", 0.00000002)]
    categories = ["invoice", "contract", "claim", "email"]
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now.replace(day=1) - timedelta(days=1)).replace(day=1, hour=0, minute=0, second=0)
    encode = msgspec.json.Encoder().encode
    stored = 0
    for key in keys:
        rnd = random.Random(key.org_slug)
        async with tenant_session(sessionmaker, key.org_id) as session:
            existing = set((await session.execute(text("SELECT key FROM meters"))).scalars())
            specs = [
                dict(
                    key="tokens",
                    name="LLM tokens",
                    event_type="ai.tokens",
                    aggregation="sum",
                    value_path=["tokens"],
                    provider_cost_path=["cost"],
                    site_path=["site"],
                    dim_names=["model"],
                    dim1_path=["model"],
                    unit="tokens",
                ),
                dict(
                    key="requests",
                    name="LLM requests",
                    event_type="ai.tokens",
                    aggregation="count",
                    value_path=None,
                    provider_cost_path=None,
                    site_path=["site"],
                    dim_names=["model"],
                    dim1_path=["model"],
                    unit="requests",
                ),
                dict(
                    key="documents",
                    name="Documents processed",
                    event_type="docs.processed",
                    aggregation="sum",
                    value_path=["pages"],
                    provider_cost_path=None,
                    site_path=["site"],
                    dim_names=["category"],
                    dim1_path=["category"],
                    unit="pages",
                ),
            ]
            for spec in specs:
                if spec["key"] not in existing:
                    session.add(Meter(org_id=key.org_id, **spec))
            await session.flush()
            clients = (await session.execute(text("SELECT id, external_key FROM clients ORDER BY external_key"))).all()
            sites: dict[uuid.UUID, list[str]] = {}
            for client_id, code in (await session.execute(text("SELECT client_id, code FROM sites"))).all():
                sites.setdefault(client_id, []).append(code)
            meter_id = (await session.execute(text("SELECT id FROM meters WHERE key = 'tokens'"))).scalar_one()
            if clients:
                biggest = clients[0].id
                session.add(
                    UsageBudget(
                        org_id=key.org_id,
                        client_id=biggest,
                        meter_id=meter_id,
                        kind="quantity",
                        period="month",
                        limit_value=Decimal(60_000_000),
                        thresholds=[50, 80, 100],
                    )
                )
            await audit.record(
                session,
                org_id=key.org_id,
                actor=DEMO_ACTOR,
                action="demo.usage",
                entity_type="org",
                entity_id=key.org_id,
            )
        events: list[ingest.CloudEvent | ingest.Rejected] = []
        for client_id, external_key in clients:
            codes = sites.get(client_id) or [None]
            volume = rnd.randint(20, 60)
            day = start
            while day < now:
                weekday_factor = 0.4 if day.weekday() >= 5 else 1.0
                for n in range(int(volume * weekday_factor)):
                    at = day + timedelta(seconds=rnd.randint(0, 86_399))
                    if at >= now:
                        continue
                    site = rnd.choice(codes)
                    model, price = rnd.choices(models, weights=[3, 6, 2, 1])[0]
                    tokens = int(rnd.lognormvariate(7.0, 1.0)) + 1
                    data: dict[str, object] = {"model": model, "tokens": tokens, "cost": round(tokens * price, 8)}
                    kind = "ai.tokens"
                    if n % 7 == 0:
                        kind = "docs.processed"
                        data = {"category": rnd.choice(categories), "pages": rnd.randint(1, 40)}
                    if site is not None:
                        data["site"] = site
                    events.append(
                        ingest.CloudEvent(
                            specversion="1.0",
                            id=f"demo-{external_key}-{at:%Y%m%d%H%M%S}-{n}",
                            source=f"https://apps.{key.org_slug}.example/assistant",
                            type=kind,
                            subject=external_key,
                            time=at,
                            data=msgspec.Raw(encode(data)),
                        )
                    )
                day += timedelta(days=1)
        for i in range(0, len(events), 5_000):
            outcome = await ingest.ingest(sessionmaker, key.org_id, events[i : i + 5_000], actor=DEMO_ACTOR)
            stored += outcome.accepted
    await metering_jobs.compact_all(sessionmaker)
    return stored
