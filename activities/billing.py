"""Billing-cycle activities: every database and ledger touch of the engagement and cycle workflows.

Each activity is idempotent under Temporal's at-least-once execution: drafts are keyed by (contract,
period, revision), decisions re-check the invoice's state under a row lock and recognise their own earlier
success, notifications are keyed, and the ledger client posts an invoice id at most once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

import billing
from activities.data_errors import data_errors_not_retried
from activities.liveness import heartbeating
from core import plain_decimal
from core.ids import new_id
from core.settings import Settings
from integrations.accounting.beancount_ledger import BeancountLedger, LedgerCheckError
from integrations.accounting.mapping import ledger_invoice
from persistence import audit, collections, finance_events, revenue
from persistence.billing_inputs import ContractNotFound, decode_terms, gather
from persistence.billing_locks import lock_period
from persistence.db import tenant_session
from persistence.expense_store import expense_claim_problems
from persistence.models import Client, Contract, Invoice, LedgerPosting, Notification
from persistence.time_store import claim_problems
from workflows import names
from workflows.inputs import (
    Amendment,
    AmendmentStored,
    CycleGathered,
    CycleInput,
    DecisionOutcome,
    DecisionRecord,
    DraftWrite,
    FiledDraft,
    InvoiceRef,
    LedgerSyncInput,
    NotifyRequest,
    Reconciliation,
)

WORKFLOW_ACTOR = audit.Actor(type="workflow", id="billing-cycle")
# With the cycle's 1 s, doubling retry interval, six attempts wait about half a minute for the creating
# request to commit.
CONTRACT_VISIBLE_ATTEMPTS = 6
_plain = plain_decimal.Encoder()  # Decimals in plain fixed-point form


def builtins(value: Any) -> Any:
    """Structs to JSONB-ready data with Decimals as exact strings."""
    return msgspec.json.decode(_plain.encode(value))


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def _user_id(value: str | None) -> uuid.UUID | None:
    """The acting person carried by a decision or amendment (None: a service key, or an old history)."""
    return uuid.UUID(value) if value else None


class BillingActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    # ---- gathering and drafting ----------------------------------------------------------------
    @activity.defn(name=names.GATHER_CYCLE_INPUTS)
    @heartbeating
    @data_errors_not_retried
    async def gather_cycle_inputs(self, inp: CycleInput) -> CycleGathered:
        async with tenant_session(self.sessionmaker, _uuid(inp.org_id)) as session:
            try:
                gathered = await gather(
                    session,
                    _uuid(inp.contract_id),
                    billing.Period.parse(inp.period),
                    extra_milestones=inp.milestones,
                    terminated_on=inp.terminated_on,
                )
            except ContractNotFound as exc:
                # The API starts the engagement inside the request that creates the contract, so a first cycle
                # due at once can gather before that transaction commits: retry a few times before giving up.
                raise ApplicationError(
                    f"contract {exc} not found",
                    type="NotFound",
                    non_retryable=activity.info().attempt >= CONTRACT_VISIBLE_ATTEMPTS,
                ) from exc
        return CycleGathered(
            terms=gathered.terms,
            inputs=gathered.inputs,
            state=gathered.state,
            client_name=gathered.client_name,
            as_of=gathered.as_of,
        )

    @activity.defn(name=names.FILE_DRAFT_INVOICE)
    @heartbeating
    @data_errors_not_retried
    async def file_draft_invoice(self, w: DraftWrite, inp: CycleInput) -> FiledDraft:
        """Write the draft (idempotent), reconcile it against the live view, and tell finance — one activity,
        so a month close costs two activity round trips per contract, not four."""
        invoice = await self._write(w)
        reconciliation = await self._reconcile(inp, invoice.invoice_id)
        return FiledDraft(invoice=invoice, reconciliation=reconciliation)

    async def _write(self, w: DraftWrite) -> InvoiceRef:
        org_id = _uuid(w.org_id)
        async with tenant_session(self.sessionmaker, org_id) as session:
            revision = await self._next_revision(session, w)
            values = {
                "id": new_id(),
                "org_id": org_id,
                "client_id": _uuid(w.client_id),
                "contract_id": _uuid(w.contract_id),
                "period": w.period,
                "revision": revision,
                "status": "reconciling",
                "currency": w.draft.currency,
                "subtotal": w.draft.subtotal,
                "tax": w.draft.tax_total,
                "total": w.draft.total,
                "draft": builtins(w.draft),
                "inputs": builtins(w.inputs),
                "state_before": builtins(w.state_before),
                "state_after": builtins(w.state_after),
                "workflow_id": w.workflow_id,
            }
            columns = (Invoice.id, Invoice.status, Invoice.revision)
            row = (
                await session.execute(
                    insert(Invoice)
                    .values(**values)
                    .on_conflict_do_nothing(index_elements=["org_id", "contract_id", "period", "revision"])
                    .returning(*columns)
                )
            ).one_or_none()
            if row is None:  # a retry: the draft of this revision is already there
                row = (
                    await session.execute(
                        select(*columns).where(
                            Invoice.contract_id == _uuid(w.contract_id),
                            Invoice.period == w.period,
                            Invoice.revision == revision,
                        )
                    )
                ).one()
            else:
                if revision > 1:
                    await session.execute(
                        update(Invoice)
                        .where(
                            Invoice.contract_id == _uuid(w.contract_id),
                            Invoice.period == w.period,
                            Invoice.revision < revision,
                            Invoice.status.in_(("reconciling", "draft", "blocked", "rejected")),
                        )
                        .values(status="superseded")
                    )
                await audit.record(
                    session,
                    org_id=org_id,
                    actor=WORKFLOW_ACTOR,
                    action="invoice.draft",
                    entity_type="invoice",
                    entity_id=row.id,
                    after={"period": w.period, "revision": revision, "total": str(w.draft.total)},
                    detail={"workflow_id": w.workflow_id},
                )
                await finance_events.emit_invoice_event(session, org_id, finance_events.INVOICE_DRAFTED, row.id)
        return InvoiceRef(invoice_id=str(row.id), status=row.status, revision=row.revision)

    async def _next_revision(self, session: AsyncSession, w: DraftWrite) -> int:
        """A retried write finds its own earlier draft (same workflow, same draft); otherwise the next number."""
        rows = (
            await session.execute(
                select(Invoice.revision, Invoice.status, Invoice.workflow_id, Invoice.total).where(
                    Invoice.contract_id == _uuid(w.contract_id), Invoice.period == w.period
                )
            )
        ).all()
        if any(r.status == "approved" for r in rows):
            raise ApplicationError(f"{w.period} already has an approved invoice", type="Conflict", non_retryable=True)
        latest = max(rows, key=lambda r: r.revision, default=None)
        if (
            latest is not None
            and latest.status == "reconciling"
            and latest.workflow_id == w.workflow_id
            and latest.total == w.draft.total
        ):
            return int(latest.revision)
        return (latest.revision if latest is not None else 0) + 1

    # ---- reconciliation -----------------------------------------------------------------------------
    async def _reconcile(self, inp: CycleInput, invoice_id: str) -> Reconciliation:
        """Rate the live view again (same gather, same engine), compare it with the stored draft, and
        announce the outcome to finance in the same transaction."""
        org_id = _uuid(inp.org_id)
        async with tenant_session(self.sessionmaker, org_id) as session:
            # Only the columns compared (the stored lines are read on a mismatch): an invoice row carries its
            # inputs, lines and traces as JSONB, which this check does not need.
            invoice = (
                await session.execute(
                    select(
                        Invoice.id, Invoice.contract_id, Invoice.period, Invoice.revision, Invoice.status, Invoice.total
                    )
                    .where(Invoice.id == _uuid(invoice_id))
                    .with_for_update()
                )
            ).one()
            live = await gather(
                session,
                invoice.contract_id,
                billing.Period.parse(invoice.period),
                extra_milestones=inp.milestones,
                terminated_on=inp.terminated_on,
            )
            live_draft, _ = billing.rate(live.terms, live.inputs, live.state, invoice.period)
            difference = live_draft.total - invoice.total
            threshold = inp.config.reconciliation_threshold
            ok = abs(difference) <= threshold
            details = []
            if not ok:
                stored = (await session.execute(select(Invoice.draft).where(Invoice.id == invoice.id))).scalar_one()
                stored_lines = {line["key"]: Decimal(line["amount"]) for line in stored["lines"]}
                for line in live_draft.lines:
                    before = stored_lines.pop(line.key, Decimal(0))
                    if before != line.amount:
                        details.append(f"{line.key}: draft {before} vs live {line.amount}")
                details += [f"{key}: draft {amount} vs live 0" for key, amount in stored_lines.items()]
            result = Reconciliation(
                ok=ok,
                draft_total=invoice.total,
                live_total=live_draft.total,
                difference=difference,
                threshold=threshold,
                checked_at=datetime.now(UTC),
                details=details[:50],
            )
            # ``version`` is the row's optimistic-lock counter (ETags): bumped as an ORM flush would.
            changes: dict[str, Any] = {"reconciliation": builtins(result), "version": Invoice.version + 1}
            if invoice.status == "reconciling":
                changes["status"] = "draft" if ok else "blocked"
            await session.execute(update(Invoice).where(Invoice.id == invoice.id).values(**changes))
            if invoice.status == "reconciling":
                message = (
                    f"invoice for {invoice.period} is ready to review"
                    if ok
                    else f"invoice for {invoice.period} differs from the live view by {difference} "
                    f"(threshold {threshold}); review and resolve"
                )
                await self._insert_notification(
                    session,
                    NotifyRequest(
                        org_id=inp.org_id,
                        invoice_id=invoice_id,
                        kind="invoice_ready" if ok else "reconciliation_blocked",
                        recipient_role="finance",
                        message=message,
                    ),
                    dedupe_key=f"{invoice.id}/{invoice.revision}/filed",
                )
        return result

    # ---- decisions ---------------------------------------------------------------------------------
    @activity.defn(name=names.RECORD_DECISION)
    @heartbeating
    @data_errors_not_retried
    async def record_invoice_decision(self, rec: DecisionRecord) -> DecisionOutcome:
        org_id = _uuid(rec.org_id)
        async with tenant_session(self.sessionmaker, org_id) as session:
            invoice = (
                await session.execute(select(Invoice).where(Invoice.id == _uuid(rec.invoice_id)).with_for_update())
            ).scalar_one()
            done = self._already_done(invoice, rec)
            if done is not None:
                return done
            expected = "blocked" if rec.action == "unblock" else "draft"
            if invoice.status != expected:
                raise ApplicationError(
                    f"invoice {invoice.id} is {invoice.status}, not {expected}", type="Conflict", non_retryable=True
                )
            before = {"status": invoice.status, "total": str(invoice.total)}
            now = datetime.now(UTC)
            if rec.action == "approve":
                await self._approve(session, invoice, rec, now)
            elif rec.action == "reject":
                invoice.status = "rejected"
            elif rec.action == "adjust":
                assert rec.adjusted_draft is not None
                invoice.draft = builtins(rec.adjusted_draft)
                invoice.subtotal = rec.adjusted_draft.subtotal
                invoice.tax = rec.adjusted_draft.tax_total
                invoice.total = rec.adjusted_draft.total
                invoice.adjustments = [
                    *invoice.adjustments,
                    *(
                        {**builtins(a), "reason": rec.reason, "by": rec.actor_id, "at": now.isoformat()}
                        for a in rec.adjustments
                    ),
                ]
            elif rec.action == "unblock":
                invoice.status = "draft"
            else:  # pragma: no cover - the workflow only sends the actions above
                raise ApplicationError(f"unknown action {rec.action}", non_retryable=True)
            if rec.action in ("approve", "reject"):
                invoice.decided_by = rec.actor_id
                invoice.decided_at = now
                invoice.decision_reason = rec.reason or None
            await session.flush()
            await audit.record(
                session,
                org_id=org_id,
                actor=audit.Actor(
                    type=rec.actor_type, id=rec.actor_id, user_id=_user_id(rec.actor_user_id), role=rec.actor_role
                ),
                action=f"invoice.{rec.action}",
                entity_type="invoice",
                entity_id=invoice.id,
                before=before,
                after={"status": invoice.status, "total": str(invoice.total), "number": invoice.number},
                detail={"reason": rec.reason} if rec.reason else None,
            )
            announced = {"approve": finance_events.INVOICE_APPROVED, "reject": finance_events.INVOICE_REJECTED}
            if rec.action in announced:
                await finance_events.emit_invoice_event(session, org_id, announced[rec.action], invoice.id)
            return DecisionOutcome(
                invoice_id=str(invoice.id), status=invoice.status, number=invoice.number, total=invoice.total
            )

    @staticmethod
    def _already_done(invoice: Invoice, rec: DecisionRecord) -> DecisionOutcome | None:
        """A retried activity whose first attempt committed must report success, not a conflict."""
        final = {"approve": "approved", "reject": "rejected"}.get(rec.action)
        if final is not None and invoice.status == final and invoice.decided_by == rec.actor_id:
            return DecisionOutcome(
                invoice_id=str(invoice.id), status=invoice.status, number=invoice.number, total=invoice.total
            )
        if (
            rec.action == "adjust"
            and rec.adjusted_draft is not None
            and invoice.total == rec.adjusted_draft.total
            and any(a.get("reason") == rec.reason and a.get("by") == rec.actor_id for a in invoice.adjustments)
        ):
            return DecisionOutcome(invoice_id=str(invoice.id), status=invoice.status, total=invoice.total)
        return None

    async def _approve(self, session: AsyncSession, invoice: Invoice, rec: DecisionRecord, now: datetime) -> None:
        """Number (gapless: the counter moves in this same transaction), lock the period, queue the sync."""
        await self._check_time_claim(session, invoice)
        year = (rec.issue_date or now.date()).year
        number = (
            await session.execute(
                text(
                    "INSERT INTO invoice_number_sequences (org_id, year, last_number) VALUES (:org, :year, 1) "
                    "ON CONFLICT (org_id, year) DO UPDATE SET last_number = invoice_number_sequences.last_number + 1 "
                    "RETURNING last_number"
                ),
                {"org": invoice.org_id, "year": year},
            )
        ).scalar_one()
        invoice.number = f"INV-{year}-{number:05d}"
        invoice.status = "approved"
        client = (await session.execute(select(Client).where(Client.id == invoice.client_id))).scalar_one()
        await collections.issue(session, invoice, client, rec.issue_date or now.date())
        assert invoice.issue_date is not None
        await revenue.record_invoice(session, invoice, invoice.issue_date)
        start, end = billing.period_bounds(invoice.period, client.timezone)
        await lock_period(
            session,
            org_id=invoice.org_id,
            client_id=invoice.client_id,
            period=invoice.period,
            period_start=start,
            period_end=end,
            invoice_id=invoice.id,
        )
        await session.execute(
            insert(LedgerPosting)
            .values(id=new_id(), org_id=invoice.org_id, invoice_id=invoice.id, target="beancount", status="pending")
            .on_conflict_do_nothing(index_elements=["org_id", "invoice_id", "target"])
        )

    @staticmethod
    async def _check_time_claim(session: AsyncSession, invoice: Invoice) -> None:
        """Approving claims the time entries and expenses the draft was rated on (billed = on an approved
        invoice's inputs): refuse when one is already billed elsewhere or changed since, so no hour or expense
        is billed twice or wrongly."""
        entries = [
            (str(e.get("id")), Decimal(str(e.get("minutes")))) for e in (invoice.inputs or {}).get("time_entries", [])
        ]
        problems = await claim_problems(session, client_id=invoice.client_id, invoice_id=invoice.id, entries=entries)
        # Expenses likewise, those in the invoice's currency (one in another currency is listed, not billed).
        expenses = [
            (str(x.get("id")), Decimal(str(x.get("amount"))))
            for x in (invoice.inputs or {}).get("expenses", [])
            if x.get("currency") == invoice.currency
        ]
        expense_problems = await expense_claim_problems(
            session, client_id=invoice.client_id, invoice_id=invoice.id, expenses=expenses
        )
        if problems or expense_problems:
            reasons = [f"time entry {p.entry_id}: {p.reason}" for p in problems]
            reasons += [f"expense {p.expense_id}: {p.reason}" for p in expense_problems]
            listed = "; ".join(reasons[:20])
            raise ApplicationError(
                f"the time or expenses this draft bills changed since it was rated ({listed}); reject it and redraft",
                type="Conflict",
                non_retryable=True,
            )

    # ---- notifications, contracts ------------------------------------------------------------------
    @activity.defn(name=names.NOTIFY)
    @heartbeating
    @data_errors_not_retried
    async def notify(self, req: NotifyRequest) -> None:
        """Keyed on the workflow's activity id, so a retried activity does not notify twice."""
        info = activity.info()
        async with tenant_session(self.sessionmaker, _uuid(req.org_id)) as session:
            await self._insert_notification(
                session, req, dedupe_key=f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
            )

    @staticmethod
    async def _insert_notification(session: AsyncSession, req: NotifyRequest, *, dedupe_key: str) -> None:
        await session.execute(
            insert(Notification)
            .values(
                id=new_id(),
                dedupe_key=dedupe_key,
                org_id=_uuid(req.org_id),
                kind=req.kind,
                recipient_role=req.recipient_role,
                invoice_id=_uuid(req.invoice_id) if req.invoice_id else None,
                message=req.message,
            )
            .on_conflict_do_nothing(index_elements=["org_id", "dedupe_key"])
        )

    @activity.defn(name=names.STORE_AMENDMENT)
    @heartbeating
    @data_errors_not_retried
    async def store_amendment(
        self, org_id: str, contract_id: str, effective_from: str, amendment: Amendment
    ) -> AmendmentStored:
        async with tenant_session(self.sessionmaker, _uuid(org_id)) as session:
            contract = (
                await session.execute(select(Contract).where(Contract.id == _uuid(contract_id)).with_for_update())
            ).scalar_one()
            terms = decode_terms(contract.terms)
            version = msgspec.structs.replace(amendment.version, effective_from=effective_from)
            kept = [v for v in terms.versions if v.effective_from < effective_from]
            amended = msgspec.structs.replace(terms, versions=[*kept, version])
            problems = billing.validate_terms(amended)
            if problems:
                raise ApplicationError(
                    "; ".join(f"{p.path}: {p.message}" for p in problems), type="InvalidTerms", non_retryable=True
                )
            before = {"terms_versions": contract.terms_versions}
            contract.terms = builtins(amended)
            contract.terms_versions = len(amended.versions)
            await session.flush()
            await audit.record(
                session,
                org_id=_uuid(org_id),
                actor=audit.Actor(
                    type=amendment.actor_type,
                    id=amendment.actor_id,
                    user_id=_user_id(amendment.actor_user_id),
                    role=amendment.actor_role,
                ),
                action="contract.amend",
                entity_type="contract",
                entity_id=contract.id,
                before=before,
                after={"terms_versions": contract.terms_versions, "effective_from": effective_from},
            )
            return AmendmentStored(effective_from=effective_from, terms_versions=contract.terms_versions)

    @activity.defn(name=names.SET_CONTRACT_STATUS)
    @heartbeating
    @data_errors_not_retried
    async def set_contract_status(self, org_id: str, contract_id: str, status: str) -> None:
        async with tenant_session(self.sessionmaker, _uuid(org_id)) as session:
            await session.execute(update(Contract).where(Contract.id == _uuid(contract_id)).values(status=status))
            if status == "terminated":
                await finance_events.emit_contract_terminated(session, _uuid(org_id), _uuid(contract_id))

    # ---- ledger ------------------------------------------------------------------------------------
    def ledger_path(self, org_id: str) -> Any:
        return self.settings.ledger_dir / f"{org_id}.beancount"

    @activity.defn(name=names.POST_TO_LEDGER)
    @heartbeating
    @data_errors_not_retried
    async def post_invoice_to_ledger(self, inp: LedgerSyncInput) -> str:
        org_id = _uuid(inp.org_id)
        async with tenant_session(self.sessionmaker, org_id) as session:
            invoice = (await session.execute(select(Invoice).where(Invoice.id == _uuid(inp.invoice_id)))).scalar_one()
            if invoice.status != "approved" or invoice.number is None:
                raise ApplicationError(
                    "only approved invoices are posted", type="InvoiceNotApproved", non_retryable=True
                )
            client = (await session.execute(select(Client).where(Client.id == invoice.client_id))).scalar_one()
            contract = (
                await session.execute(select(Contract.code).where(Contract.id == invoice.contract_id))
            ).scalar_one()
            draft = msgspec.convert(invoice.draft, billing.InvoiceDraft, strict=False)
            payload = ledger_invoice(
                contract=contract,
                invoice_id=str(invoice.id),
                number=invoice.number,
                issue_date=invoice.issue_date or (invoice.decided_at or datetime.now(UTC)).date(),
                client_key=client.external_key,
                client_name=client.name,
                draft=draft,
            )
        ledger = BeancountLedger(self.ledger_path(inp.org_id))
        try:
            result = await asyncio.to_thread(ledger.post, payload)
        except LedgerCheckError as exc:
            raise ApplicationError(str(exc), type="LedgerCheckError", non_retryable=True) from exc
        async with tenant_session(self.sessionmaker, org_id) as session:
            await session.execute(
                update(LedgerPosting)
                .where(LedgerPosting.invoice_id == _uuid(inp.invoice_id), LedgerPosting.target == inp.target)
                .values(
                    status="posted",
                    attempts=LedgerPosting.attempts + 1,
                    reference=result.reference,
                    posted_at=datetime.now(UTC),
                    last_error=None,
                )
            )
            await audit.record(
                session,
                org_id=org_id,
                actor=audit.Actor(type="workflow", id="ledger-sync"),
                action="invoice.ledger_post",
                entity_type="invoice",
                entity_id=inp.invoice_id,
                detail={"target": inp.target, "already_posted": result.already_posted},
            )
            await finance_events.emit_invoice_event(
                session, org_id, finance_events.INVOICE_POSTED, _uuid(inp.invoice_id), ledger_reference=result.reference
            )
        return result.reference

    @activity.defn(name=names.MARK_LEDGER_FAILED)
    @heartbeating
    @data_errors_not_retried
    async def mark_ledger_sync_failed(self, inp: LedgerSyncInput, error: str) -> None:
        async with tenant_session(self.sessionmaker, _uuid(inp.org_id)) as session:
            await session.execute(
                update(LedgerPosting)
                .where(LedgerPosting.invoice_id == _uuid(inp.invoice_id), LedgerPosting.target == inp.target)
                .values(status="failed", attempts=LedgerPosting.attempts + 1, last_error=error[:2000])
            )

    def all(self) -> list[Any]:
        return [
            self.gather_cycle_inputs,
            self.file_draft_invoice,
            self.record_invoice_decision,
            self.notify,
            self.store_amendment,
            self.set_contract_status,
            self.post_invoice_to_ledger,
            self.mark_ledger_sync_failed,
        ]
