"""Post one approved invoice to the org's ledger exactly once.

The workflow id is derived from the invoice id, so Temporal itself refuses a second sync of the same
invoice while one runs; the ledger client is idempotent on the invoice id, so activity retries after a
crash or timeout never post twice. After the retry budget is spent the posting is marked failed, and the
API's retry starts a fresh run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows.inputs import LedgerSyncInput
    from workflows.liveness import HEARTBEAT_TIMEOUT

LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=12,
    non_retryable_error_types=["LedgerCheckError", "InvoiceNotApproved"],
)


@workflow.defn(name=names.LEDGER_SYNC_WORKFLOW)
class LedgerSyncWorkflow:
    @workflow.run
    async def run(self, inp: LedgerSyncInput) -> str:
        try:
            reference: str = await workflow.execute_activity(
                names.POST_TO_LEDGER,
                inp,
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=LEDGER_RETRY,
            )
        except ActivityError as err:
            await workflow.execute_activity(
                names.MARK_LEDGER_FAILED,
                args=[inp, str(err.cause or err)],
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            raise
        return reference
