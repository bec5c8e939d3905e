"""Webhook endpoints: where budget alerts (and test pings) are POSTed, HMAC-SHA256 signed.

The signing secret is returned once, when the endpoint is created or its secret rotated. Every delivery
attempt is logged (``GET /v1/webhooks/{id}/deliveries``). Signature format: ``core/webhook_signature.py``
and docs/metering.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Request, Response, delete, get, patch, post
from sqlalchemy import select

from api.context import Ctx
from api.dto import Body
from api.etags import etag_for
from api.idempotency import idempotent_create, json_response
from api.pagination import Cursor, Limit, Page
from api.problems import FieldError, ValidationFailed
from api.resources import create_row, delete_row, get_row, list_page, patch_row, read_response, state_of, to_out
from core import webhook_signature, webhook_targets
from core.ids import new_id
from persistence.finance_events import FINANCE_EVENTS
from persistence.metering_jobs import BUDGET_EVENT, WebhookEvent, enqueue_event
from persistence.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from workflows.names import WEBHOOK_DELIVERY_WORKFLOW, webhook_delivery_id

TEST_EVENT = "webhook.test"
EVENT_TYPES = (BUDGET_EVENT, TEST_EVENT, *FINANCE_EVENTS)
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/$.?#][^\s]*$", max_length=2000)]
EventType = Literal[
    "budget.threshold_reached",
    "webhook.test",
    "invoice.drafted",
    "invoice.approved",
    "invoice.rejected",
    "invoice.posted",
    "contract.terminated",
    "invoice.sent",
    "invoice.payment_recorded",
    "invoice.paid",
    "invoice.overdue",
    "invoice.dunning_reminder",
    "invoice.voided",
    "invoice.credited",
]


class EndpointCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    description: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    event_types: list[EventType] = msgspec.field(default_factory=list)


class EndpointPatch(msgspec.Struct, forbid_unknown_fields=True):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    description: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType | None = msgspec.UNSET
    event_types: list[EventType] | msgspec.UnsetType = msgspec.UNSET
    status: Literal["active", "disabled"] | msgspec.UnsetType = msgspec.UNSET


class EndpointOut(msgspec.Struct):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = ""


class AttemptOut(msgspec.Struct):
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(msgspec.Struct):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[AttemptOut] = []


@get("/webhooks", opt={"action": "webhooks.read"}, summary="List webhook endpoints")
async def list_endpoints(ctx: Ctx, limit: Limit = 50, cursor: Cursor = None) -> Page[EndpointOut]:
    return await list_page(ctx, select(WebhookEndpoint), WebhookEndpoint, EndpointOut, limit, cursor)


@post(
    "/webhooks",
    opt={"action": "webhooks.write"},
    dto=Body[EndpointCreate],
    return_dto=None,
    summary="Register a webhook endpoint (the response carries its signing secret, once)",
    status_code=201,
)
async def create_endpoint(ctx: Ctx, data: EndpointCreate) -> Response[EndpointWithSecret]:
    """`event_types` empty means every event type. Verify deliveries with the `Agencyflow-Signature` header:
    `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`. The URL must be public (no private,
    loopback or link-local address) unless the deployment sets `AGENCYFLOW_WEBHOOK_ALLOW_PRIVATE=1`."""
    _check_target(ctx, data.url)

    async def create() -> tuple[int, object, dict[str, str]]:
        secret = webhook_signature.new_secret()
        row = WebhookEndpoint(
            org_id=ctx.org_id,
            url=data.url,
            description=data.description,
            event_types=list(data.event_types),
            secret=ctx.secret_box.seal(secret),
        )
        status, _out, headers = await create_row(ctx, row, EndpointOut, "webhook_endpoint", location="/v1/webhooks")
        return status, _with_secret(row, secret), headers

    return await idempotent_create(ctx, create, carries_secret=True)  # type: ignore[return-value]


def _check_target(ctx: Ctx, url: str) -> None:
    problem = webhook_targets.url_problem(url, allow_private=ctx.request.app.state.settings.webhook_allow_private)
    if problem is not None:
        raise ValidationFailed("the webhook URL is not allowed", errors=[FieldError(detail=problem, pointer="/url")])


def _with_secret(row: WebhookEndpoint, secret: str) -> EndpointWithSecret:
    """The one time the secret leaves the API readable; the row holds it sealed (``core.secret_box``)."""
    return msgspec.convert({**msgspec.structs.asdict(to_out(row, EndpointOut)), "secret": secret}, EndpointWithSecret)


@get("/webhooks/{endpoint_id:uuid}", opt={"action": "webhooks.read"}, summary="Get a webhook endpoint")
async def get_endpoint(ctx: Ctx, endpoint_id: uuid.UUID) -> Response[EndpointOut]:
    return read_response(ctx, await get_row(ctx, WebhookEndpoint, endpoint_id, "webhook endpoint"), EndpointOut)  # type: ignore[return-value]


@patch(
    "/webhooks/{endpoint_id:uuid}",
    opt={"action": "webhooks.write"},
    dto=Body[EndpointPatch],
    return_dto=None,
    summary="Change a webhook endpoint (If-Match supported)",
)
async def update_endpoint(ctx: Ctx, endpoint_id: uuid.UUID, data: EndpointPatch) -> Response[EndpointOut]:
    if data.url is not msgspec.UNSET:
        _check_target(ctx, data.url)
    row = await get_row(ctx, WebhookEndpoint, endpoint_id, "webhook endpoint", for_update=True)
    return await patch_row(ctx, row, data, EndpointOut, "webhook_endpoint")  # type: ignore[return-value]


@delete(
    "/webhooks/{endpoint_id:uuid}",
    opt={"action": "webhooks.write"},
    summary="Delete a webhook endpoint",
    status_code=204,
)
async def delete_endpoint(ctx: Ctx, endpoint_id: uuid.UUID) -> Response[None]:
    row = await get_row(ctx, WebhookEndpoint, endpoint_id, "webhook endpoint", for_update=True)
    return await delete_row(ctx, row, EndpointOut, "webhook_endpoint")  # type: ignore[return-value]


@post(
    "/webhooks/{endpoint_id:uuid}/rotate-secret",
    opt={"action": "webhooks.write"},
    summary="Replace the signing secret (the response carries the new one, once)",
    status_code=200,
)
async def rotate_secret(ctx: Ctx, endpoint_id: uuid.UUID) -> Response[EndpointWithSecret]:
    row = await get_row(ctx, WebhookEndpoint, endpoint_id, "webhook endpoint", for_update=True)
    before = state_of(row, EndpointOut)
    secret = webhook_signature.new_secret()
    row.secret = ctx.secret_box.seal(secret)
    await ctx.session.flush()
    await ctx.audit(
        "webhook_endpoint.rotate_secret", "webhook_endpoint", row.id, before=before, after=state_of(row, EndpointOut)
    )
    return json_response(200, _with_secret(row, secret), {"ETag": etag_for(row.version)})  # type: ignore[return-value]


@get(
    "/webhooks/{endpoint_id:uuid}/deliveries",
    opt={"action": "webhooks.read"},
    summary="Deliveries to an endpoint, newest first, with every attempt",
)
async def list_deliveries(
    ctx: Ctx, endpoint_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None
) -> Response[Page[DeliveryOut]]:
    await get_row(ctx, WebhookEndpoint, endpoint_id, "webhook endpoint")
    page = await list_page(
        ctx,
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id),
        WebhookDelivery,
        DeliveryOut,
        limit,
        cursor,
    )
    ids = [d.id for d in page.items]
    attempts = (
        await ctx.session.execute(
            select(WebhookDeliveryAttempt)
            .where(WebhookDeliveryAttempt.delivery_id.in_(ids))
            .order_by(WebhookDeliveryAttempt.delivery_id, WebhookDeliveryAttempt.attempt)
        )
    ).scalars()
    log: dict[uuid.UUID, list[AttemptOut]] = {}
    for a in attempts:
        log.setdefault(a.delivery_id, []).append(to_out(a, AttemptOut))
    for item in page.items:
        item.log = log.get(item.id, [])
    return json_response(200, page)  # type: ignore[return-value]


@post(
    "/webhooks/{endpoint_id:uuid}/test",
    opt={"action": "webhooks.write"},
    summary="Send a signed `webhook.test` event to this endpoint now",
    status_code=202,
)
async def send_test(ctx: Ctx, request: Request, endpoint_id: uuid.UUID) -> Response[DeliveryOut]:  # type: ignore[type-arg]
    await get_row(ctx, WebhookEndpoint, endpoint_id, "webhook endpoint")
    event = WebhookEvent(
        id=new_id(), type=TEST_EVENT, created_at=datetime.now(UTC), data={"endpoint_id": str(endpoint_id)}
    )
    [(_org, delivery_id)] = await enqueue_event(ctx.session, ctx.org_id, event, [endpoint_id])
    await ctx.session.flush()
    await ctx.audit("webhook_endpoint.test", "webhook_endpoint", endpoint_id, detail={"delivery_id": str(delivery_id)})
    client = await request.app.state.temporal_client()
    await client.start_workflow(
        WEBHOOK_DELIVERY_WORKFLOW,
        args=[str(ctx.org_id), str(delivery_id)],
        id=webhook_delivery_id(str(delivery_id)),
        task_queue=request.app.state.settings.task_queue,
    )
    row = await get_row(ctx, WebhookDelivery, delivery_id, "webhook delivery")
    return json_response(202, to_out(row, DeliveryOut))  # type: ignore[return-value]


ROUTES = [
    list_endpoints,
    create_endpoint,
    get_endpoint,
    update_endpoint,
    delete_endpoint,
    rotate_secret,
    list_deliveries,
    send_test,
]
