"""Post one credit note to the org's ledger exactly once, as the reversal of what it credits.

The same shape as the credit-grant sync: the workflow id is derived from the credit note's id and the ledger
is idempotent on the document id, so a retry after a crash never posts it twice; a posting the ledger refuses
is recorded on the credit note for finance to see.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows.ledger_sync import LEDGER_RETRY
    from workflows.liveness import HEARTBEAT_TIMEOUT


@workflow.defn(name=names.CREDIT_NOTE_LEDGER_WORKFLOW)
class CreditNoteLedgerWorkflow:
    @workflow.run
    async def run(self, org_id: str, credit_note_id: str) -> str:
        try:
            reference: str = await workflow.execute_activity(
                names.POST_CREDIT_NOTE,
                args=[org_id, credit_note_id],
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=LEDGER_RETRY,
            )
        except ActivityError as err:
            await workflow.execute_activity(
                names.MARK_CREDIT_NOTE_FAILED,
                args=[org_id, credit_note_id, str(err.cause or err)],
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
            )
            raise
        return reference
