"""Collect one issued invoice: overdue the day after its due date, then reminders on the org's schedule.

Durable timers, not a polling job: the workflow sleeps until the client's local midnight after the due date,
marks the invoice overdue if it is still open, then sleeps to each reminder day (the org's
``reminder_days`` after the due date) and sends that step. Every wake-up asks the database first, so a
payment in full or a void recorded meanwhile simply ends the workflow; nothing has to signal it. Steps are
idempotent (dedupe keys per invoice and step), so an activity retried after it committed does nothing twice.
Started by the billing cycle when its invoice is approved (``workflows.billing_cycle``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import billing
    from workflows import names
    from workflows.collection_inputs import CollectionInput, CollectionPlan, CollectionStep

DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
STEP_TIMEOUT = timedelta(seconds=60)


@workflow.defn(name=names.INVOICE_COLLECTION_WORKFLOW)
class InvoiceCollectionWorkflow:
    @workflow.run
    async def run(self, inp: CollectionInput) -> str:
        plan: CollectionPlan = await workflow.execute_activity(
            names.COLLECTION_PLAN,
            inp,
            result_type=CollectionPlan,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        if not plan.open or plan.due_date is None:
            return "closed"
        overdue_day = plan.due_date + timedelta(days=1)
        await self._sleep_until(billing.periods.local_midnight_utc(overdue_day, plan.timezone))
        step = CollectionStep(org_id=inp.org_id, invoice_id=inp.invoice_id, as_of=overdue_day)
        if not await self._step(names.MARK_INVOICE_OVERDUE, step):
            return "settled before due"
        for number, days in enumerate(plan.reminder_days, start=1):
            day = plan.due_date + timedelta(days=days)
            await self._sleep_until(billing.periods.local_midnight_utc(day, plan.timezone))
            step = CollectionStep(org_id=inp.org_id, invoice_id=inp.invoice_id, as_of=day, step=number, days=days)
            if not await self._step(names.SEND_DUNNING_REMINDER, step):
                return f"settled after {number - 1} reminders"
        return f"{len(plan.reminder_days)} reminders sent"

    @staticmethod
    async def _sleep_until(moment: datetime) -> None:
        left = (moment - workflow.now()).total_seconds()
        if left > 0:
            await workflow.sleep(timedelta(seconds=left))

    @staticmethod
    async def _step(activity: str, step: CollectionStep) -> bool:
        still_open: bool = await workflow.execute_activity(
            activity, step, result_type=bool, start_to_close_timeout=STEP_TIMEOUT, retry_policy=DB_RETRY
        )
        return still_open
