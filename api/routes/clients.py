"""Clients: who the agency bills, in which currency and time zone, under which tax settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec
from litestar import Response, delete, get, patch, post
from sqlalchemy import select

from api import validators
from api.context import Ctx
from api.dto import Body
from api.idempotency import idempotent_create
from api.pagination import Cursor, Limit, Page
from api.resources import create_row, delete_row, get_row, list_page, patch_row, read_response
from persistence.models import Client

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ExternalKey = Annotated[
    str,
    msgspec.Meta(pattern=r"^[A-Za-z0-9._:@-]{1,200}$", description="the CloudEvents `subject` usage events carry"),
]
CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
TaxRate = Annotated[Decimal, msgspec.Meta(description="fraction between 0 and 1, e.g. 0.20 for 20 %")]
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
ClientStatus = Annotated[str, msgspec.Meta(pattern=r"^(active|archived)$")]


class TaxSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    __field_checks__: ClassVar = {"rate": validators.decimal_between(Decimal(0), Decimal(1))}

    rate: TaxRate = Decimal("0")
    tax_id: str | None = None
    exempt: bool = False
    reverse_charge: bool = False


class Address(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    line1: str
    city: str
    country: Country
    line2: str | None = None
    region: str | None = None
    postal_code: str | None = None


PaymentTerms = Annotated[int, msgspec.Meta(ge=0, le=365)]


class ClientCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    external_key: ExternalKey
    currency: CurrencyCode
    timezone: str
    tax: TaxSettings = msgspec.field(default_factory=TaxSettings)
    billing_address: Address | None = None
    payment_terms_days: PaymentTerms | None = None
    """Days from issue to due for this client's invoices; null: the org's collection policy."""

    __field_checks__: ClassVar = {"currency": validators.currency, "timezone": validators.timezone}


class ClientPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    external_key: ExternalKey | msgspec.UnsetType = msgspec.UNSET
    currency: CurrencyCode | msgspec.UnsetType = msgspec.UNSET
    timezone: str | msgspec.UnsetType = msgspec.UNSET
    tax: TaxSettings | msgspec.UnsetType = msgspec.UNSET
    billing_address: Address | msgspec.UnsetType | None = msgspec.UNSET
    status: ClientStatus | msgspec.UnsetType = msgspec.UNSET
    payment_terms_days: PaymentTerms | msgspec.UnsetType | None = msgspec.UNSET

    __field_checks__: ClassVar = {"currency": validators.currency, "timezone": validators.timezone}


class ClientOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    external_key: str
    currency: str
    timezone: str
    tax: TaxSettings
    billing_address: Address | None
    status: str
    payment_terms_days: int | None
    version: int
    created_at: datetime
    updated_at: datetime


def _builtin(value: object) -> object:
    return msgspec.to_builtins(value) if isinstance(value, msgspec.Struct) else value


@get("/clients", opt={"action": "clients.read"}, summary="List clients")
async def list_clients(ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> Page[ClientOut]:
    return await list_page(ctx, select(Client), Client, ClientOut, limit, cursor)


@post(
    "/clients",
    opt={"action": "clients.write"},
    dto=Body[ClientCreate],
    return_dto=None,
    summary="Create a client",
    status_code=201,
)
async def create_client(ctx: Ctx, data: ClientCreate) -> Response[ClientOut]:
    async def create() -> tuple[int, object, dict[str, str]]:
        row = Client(
            org_id=ctx.org_id,
            name=data.name,
            external_key=data.external_key,
            currency=data.currency,
            timezone=data.timezone,
            tax=msgspec.to_builtins(data.tax),
            billing_address=_builtin(data.billing_address),
            payment_terms_days=data.payment_terms_days,
        )
        return await create_row(ctx, row, ClientOut, "client", location="/v1/clients")

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/clients/{client_id:uuid}", opt={"action": "clients.read"}, summary="Get a client")
async def get_client(ctx: Ctx, client_id: uuid.UUID) -> Response[ClientOut]:
    return read_response(ctx, await get_row(ctx, Client, client_id, "client"), ClientOut)  # type: ignore[return-value]


@patch(
    "/clients/{client_id:uuid}",
    opt={"action": "clients.write"},
    dto=Body[ClientPatch],
    return_dto=None,
    summary="Update a client (If-Match supported)",
)
async def update_client(ctx: Ctx, client_id: uuid.UUID, data: ClientPatch) -> Response[ClientOut]:
    row = await get_row(ctx, Client, client_id, "client", for_update=True)
    return await patch_row(ctx, row, data, ClientOut, "client")  # type: ignore[return-value]


@delete("/clients/{client_id:uuid}", opt={"action": "clients.write"}, summary="Delete a client", status_code=204)
async def delete_client(ctx: Ctx, client_id: uuid.UUID) -> Response[None]:
    row = await get_row(ctx, Client, client_id, "client", for_update=True)
    return await delete_row(ctx, row, ClientOut, "client")  # type: ignore[return-value]


ROUTES = [list_clients, create_client, get_client, update_client, delete_client]
