"""A realistic demo agency: two orgs, a dozen people, six clients across currencies and time zones
(one with four sites), ten projects, and an owner API key per org.

Everything is written through the app role under row-level security, exactly as the API would write it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.ids import new_id
from core.permissions import Role, Scope
from persistence import audit
from persistence.api_key_store import issue_key
from persistence.db import tenant_session
from persistence.models import Client, Membership, Org, Person, Project, Site

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
            Membership(
                org_id=org_id, user_id=viewer, role=Role.CLIENT_VIEWER.value, client_id=viewer_client.id
            )
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
