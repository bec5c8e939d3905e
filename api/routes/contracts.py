"""Contracts: create (which starts the engagement workflow), read, amend, pause, resume, terminate, and the
running-period view — the charges so far, rated by the same gather + engine path as the invoice."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.params import FromQuery
from sqlalchemy import select

import billing
from api.context import Ctx
from api.dto import Body
from api.engagements import signal, temporal, update
from api.etags import check_if_match
from api.idempotency import idempotent_create, json_response
from api.pagination import Cursor, Limit, Page
from api.problems import BadRequest, Conflict, FieldError, ValidationFailed
from api.resources import get_row, list_page, read_response, state_of, to_out
from persistence import contract_store
from persistence.billing_inputs import gather
from persistence.models import Client, Contract
from workflows import names
from workflows.inputs import Amendment, AmendmentStored, CycleConfig, EngagementStatus, Termination
from workflows.starters import start_engagement

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ContractCreate(msgspec.Struct, forbid_unknown_fields=True):
    client_id: uuid.UUID
    code: Code
    name: Name
    # The agencyflow.contract/v1 document (docs/contracts.md), validated in full with every problem listed;
    # contract_id, client and client_key are taken from the contract and its client.
    terms: dict[str, Any]
    config: CycleConfig = CycleConfig()


class AmendmentCreate(msgspec.Struct, forbid_unknown_fields=True):
    version: dict[str, Any]
    reason: str = ""


class TerminationCreate(msgspec.Struct, forbid_unknown_fields=True):
    effective_on: date
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class MilestoneAcceptanceIn(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="the milestone id in the terms")]
    accepted_on: date


class ContractOut(msgspec.Struct):
    id: uuid.UUID
    client_id: uuid.UUID
    code: str
    name: str
    status: Annotated[
        str,
        msgspec.Meta(
            description="active, paused, terminating (a termination was accepted; its final cycle has not run), "
            "terminated or ended"
        ),
    ]
    start_period: str
    end_period: str | None
    terms_versions: int
    workflow_id: str
    version: int
    created_at: datetime
    updated_at: datetime
    terminates_on: Annotated[date | None, msgspec.Meta(description="last day of service, once terminated")] = None
    final_period: Annotated[
        str | None,
        msgspec.Meta(
            description="the period of the final, prorated invoice: drafted when the last day of service has "
            "ended and the grace period for late usage has passed"
        ),
    ] = None


class ContractWarning(msgspec.Struct):
    pointer: str
    detail: str


class ContractCreated(ContractOut):
    # Valid terms whose consequence finance should see before signing (e.g. an annual cap below the monthly
    # minimums it contains), each saying what will happen.
    warnings: list[ContractWarning] = []


class VersionOut(msgspec.Struct):
    effective_from: str
    label: str
    document: dict[str, Any]


class RunningView(msgspec.Struct):
    contract_id: uuid.UUID
    period: str
    as_of: datetime
    currency: str
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    draft: dict[str, Any]


def _terms_problems(
    document: dict[str, Any], client: Client, code: str
) -> tuple[billing.ContractTerms | None, list[FieldError]]:
    """Decode and validate the terms document; every problem points into ``/terms``."""
    document = {
        **document,
        "contract_id": code,
        "client": document.get("client") or client.name,
        "client_key": client.external_key,
    }
    document.setdefault("currency", client.currency)
    document.setdefault("timezone", client.timezone)
    terms, problems = billing.parse_terms(msgspec.json.encode(document))
    if terms is None:
        return None, [FieldError(pointer="/terms" + p.path, detail=p.message) for p in problems]
    errors = [FieldError(pointer="/terms" + p.path, detail=p.message) for p in billing.validate_terms(terms)]
    if terms.currency != client.currency:
        errors.append(FieldError(pointer="/terms/currency", detail=f"client bills in {client.currency}"))
    if terms.timezone != client.timezone:
        errors.append(FieldError(pointer="/terms/timezone", detail=f"client's time zone is {client.timezone}"))
    return terms, errors


@get("/contracts", opt={"action": "contracts.read"}, summary="List contracts")
async def list_contracts(
    ctx: Ctx, limit: Limit = 50, cursor: Cursor = None, client_id: FromQuery[uuid.UUID | None] = None
) -> Page[ContractOut]:
    query = select(Contract)
    if client_id is not None:
        query = query.where(Contract.client_id == client_id)
    return await list_page(ctx, query, Contract, ContractOut, limit, cursor)


@post(
    "/contracts",
    opt={"action": "contracts.write"},
    dto=Body[ContractCreate],
    return_dto=None,
    status_code=201,
    summary="Create a contract and start its engagement workflow",
)
async def create_contract(ctx: Ctx, data: ContractCreate) -> Response[ContractCreated]:
    client = await get_row(ctx, Client, data.client_id, "client")
    terms, errors = _terms_problems(data.terms, client, data.code)
    if errors or terms is None:
        raise ValidationFailed(f"{len(errors)} problem(s) in the contract terms", errors=errors)

    async def create() -> tuple[int, object, dict[str, str]]:
        row = await contract_store.create_contract(
            ctx.session, org_id=ctx.org_id, client=client, code=data.code, name=data.name, terms=terms
        )
        await ctx.audit("contract.create", "contract", row.id, after=state_of(row, ContractOut))
        await start_engagement(
            await temporal(ctx),
            task_queue=ctx.request.app.state.settings.task_queue,
            workflow_id=row.workflow_id,
            org_id=str(ctx.org_id),
            contract_id=str(row.id),
            client_id=str(client.id),
            client_key=client.external_key,
            timezone=terms.timezone,
            start_period=row.start_period,
            end_period=row.end_period,
            terms_versions=row.terms_versions,
            config=data.config,
        )
        warnings = [
            ContractWarning(pointer="/terms" + w.path, detail=w.message) for w in billing.contract_warnings(terms)
        ]
        created = ContractCreated(**msgspec.structs.asdict(to_out(row, ContractOut)), warnings=warnings)
        return 201, created, {"Location": f"/v1/contracts/{row.id}"}

    return await idempotent_create(ctx, create)  # type: ignore[return-value]


@get("/contracts/{contract_id:uuid}", opt={"action": "contracts.read"}, summary="Get a contract")
async def get_contract(ctx: Ctx, contract_id: uuid.UUID) -> Response[ContractOut]:
    return read_response(ctx, await get_row(ctx, Contract, contract_id, "contract"), ContractOut)  # type: ignore[return-value]


@get("/contracts/{contract_id:uuid}/versions", opt={"action": "contracts.read"}, summary="Terms versions")
async def list_versions(ctx: Ctx, contract_id: uuid.UUID) -> list[VersionOut]:
    row = await get_row(ctx, Contract, contract_id, "contract")
    return [
        VersionOut(effective_from=v["effective_from"], label=v.get("label", ""), document=v)
        for v in row.terms["versions"]
    ]


@get(
    "/contracts/{contract_id:uuid}/engagement",
    opt={"action": "contracts.read"},
    summary="Live state of the engagement workflow (next period, totals, terms version)",
)
async def engagement_status(ctx: Ctx, contract_id: uuid.UUID) -> EngagementStatus:
    row = await get_row(ctx, Contract, contract_id, "contract")
    workflow = (await temporal(ctx)).get_workflow_handle(row.workflow_id)
    status: EngagementStatus = await workflow.query(names.QUERY_STATUS, result_type=EngagementStatus)
    return status


@post(
    "/contracts/{contract_id:uuid}/amendments",
    opt={"action": "contracts.write"},
    dto=Body[AmendmentCreate],
    return_dto=None,
    status_code=200,
    summary="Amend the terms from the next period boundary",
)
async def amend_contract(ctx: Ctx, contract_id: uuid.UUID, data: AmendmentCreate) -> AmendmentStored:
    row = await get_row(ctx, Contract, contract_id, "contract")
    check_if_match(ctx.request, row.version)
    version_doc = {"effective_from": row.start_period, **data.version}
    try:
        version = msgspec.convert(version_doc, billing.ContractVersion, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(str(exc), errors=[FieldError(pointer="/version", detail=str(exc))]) from exc
    stored: AmendmentStored = await update(
        ctx,
        row.workflow_id,
        names.UPDATE_AMEND,
        Amendment(
            version=version,
            actor_id=str(ctx.principal.key_id),
            actor_role=ctx.principal.role.value,
            actor_type=ctx.principal.actor.type,
            actor_user_id=str(ctx.principal.user_id) if ctx.principal.user_id else None,
        ),
        result_type=AmendmentStored,
    )
    return stored


async def _set_status(ctx: Ctx, contract_id: uuid.UUID, status: str, signal_name: str) -> Response[ContractOut]:
    row = await get_row(ctx, Contract, contract_id, "contract", for_update=True)
    check_if_match(ctx.request, row.version)
    if row.status in ("terminating", "terminated", "ended"):
        raise Conflict(f"contract is {row.status}")
    before = state_of(row, ContractOut)
    await signal(ctx, row.workflow_id, signal_name)
    row.status = status
    await ctx.session.flush()
    await ctx.audit(f"contract.{signal_name}", "contract", row.id, before=before, after=state_of(row, ContractOut))
    return json_response(200, to_out(row, ContractOut))  # type: ignore[return-value]


@post(
    "/contracts/{contract_id:uuid}/pause",
    opt={"action": "contracts.write"},
    status_code=200,
    summary="Pause: periods that pass entirely while paused are not billed",
)
async def pause_contract(ctx: Ctx, contract_id: uuid.UUID) -> Response[ContractOut]:
    return await _set_status(ctx, contract_id, "paused", names.SIGNAL_PAUSE)


@post(
    "/contracts/{contract_id:uuid}/resume", opt={"action": "contracts.write"}, status_code=200, summary="Resume billing"
)
async def resume_contract(ctx: Ctx, contract_id: uuid.UUID) -> Response[ContractOut]:
    return await _set_status(ctx, contract_id, "active", names.SIGNAL_RESUME)


@post(
    "/contracts/{contract_id:uuid}/terminate",
    opt={"action": "contracts.write"},
    dto=Body[TerminationCreate],
    return_dto=None,
    status_code=200,
    summary="Terminate with a final, prorated billing cycle",
)
async def terminate_contract(ctx: Ctx, contract_id: uuid.UUID, data: TerminationCreate) -> dict[str, str]:
    row = await get_row(ctx, Contract, contract_id, "contract")
    before = state_of(row, ContractOut)
    final_period: str = await update(
        ctx,
        row.workflow_id,
        names.UPDATE_TERMINATE,
        Termination(
            effective_on=data.effective_on,
            actor_id=str(ctx.principal.key_id),
            actor_role=ctx.principal.role.value,
            reason=data.reason,
        ),
        result_type=str,
    )
    # The engagement sets ``terminated`` itself once the final cycle has run (possibly already: read the row
    # again under a lock so that is never overwritten); until then the row says it is terminating.
    await ctx.session.refresh(row, with_for_update=True)
    if row.status in ("active", "paused"):
        row.status = "terminating"
    row.terminates_on = data.effective_on
    row.final_period = final_period
    await ctx.session.flush()
    await ctx.audit(
        "contract.terminate",
        "contract",
        row.id,
        before=before,
        after=state_of(row, ContractOut),
        detail={"effective_on": data.effective_on.isoformat(), "reason": data.reason},
    )
    return {"final_period": final_period, "terminates_on": data.effective_on.isoformat(), "status": row.status}


@post(
    "/contracts/{contract_id:uuid}/milestone-acceptances",
    opt={"action": "milestones.accept"},
    dto=Body[MilestoneAcceptanceIn],
    return_dto=None,
    status_code=202,
    summary="Tell the engagement a fixed-fee milestone was accepted (billed in that date's period)",
)
async def accept_milestone(ctx: Ctx, contract_id: uuid.UUID, data: MilestoneAcceptanceIn) -> dict[str, str]:
    row = await get_row(ctx, Contract, contract_id, "contract")
    known = {m["id"] for version in row.terms["versions"] for m in version.get("milestones", [])}
    if data.id not in known:
        raise ValidationFailed(
            f"the contract has no milestone {data.id!r}",
            errors=[FieldError(pointer="/id", detail=f"not a milestone of this contract: {sorted(known)}")],
        )
    await signal(
        ctx,
        row.workflow_id,
        names.SIGNAL_MILESTONE_ACCEPTED,
        billing.MilestoneAcceptance(id=data.id, accepted_on=data.accepted_on),
    )
    await ctx.audit(
        "contract.milestone_accepted",
        "contract",
        row.id,
        detail={"milestone": data.id, "accepted_on": data.accepted_on.isoformat()},
    )
    return {"status": "accepted", "period": str(billing.Period.of_date(data.accepted_on))}


@get(
    "/contracts/{contract_id:uuid}/running",
    opt={"action": "contracts.read"},
    summary="Charges so far in the current (or given) period, rated exactly as the invoice will be",
)
async def running_view(ctx: Ctx, contract_id: uuid.UUID, period: FromQuery[str | None] = None) -> RunningView:
    row = await get_row(ctx, Contract, contract_id, "contract")
    client = await get_row(ctx, Client, row.client_id, "client")
    if period is not None and not billing.periods.is_period(period):
        raise BadRequest("period must be YYYY-MM", errors=[FieldError(parameter="period", detail="expected YYYY-MM")])
    target = (
        billing.Period.parse(period)
        if period
        else billing.period_of_instant(datetime.now().astimezone(), client.timezone)
    )
    gathered = await gather(ctx.session, row.id, target)
    draft, _ = billing.rate(gathered.terms, gathered.inputs, gathered.state, target)
    await ctx.audit("contract.running_view", "contract", row.id, detail={"period": str(target)})
    return RunningView(
        contract_id=row.id,
        period=str(target),
        as_of=gathered.as_of,
        currency=draft.currency,
        subtotal=draft.subtotal,
        tax_total=draft.tax_total,
        total=draft.total,
        draft=msgspec.json.decode(billing.encode(draft)),
    )


ROUTES = [
    list_contracts,
    create_contract,
    get_contract,
    list_versions,
    engagement_status,
    amend_contract,
    pause_contract,
    resume_contract,
    terminate_contract,
    accept_milestone,
    running_view,
]
