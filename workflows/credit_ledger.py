"""Book one prepaid credit grant in the org's ledger exactly once: the client owes (or has paid) the purchase,
and the agency owes the client the service until the credit is consumed or forfeited (a liability).

The workflow id is derived from the grant id and the ledger is idempotent on the document id, so a retry
after a crash never books the grant twice; consumption is booked by each invoice's own credit lines.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows.ledger_sync import LEDGER_RETRY
    from workflows.liveness import HEARTBEAT_TIMEOUT


@workflow.defn(name=names.CREDIT_GRANT_LEDGER_WORKFLOW)
class CreditGrantLedgerWorkflow:
    @workflow.run
    async def run(self, org_id: str, grant_id: str) -> str:
        try:
            reference: str = await workflow.execute_activity(
                names.POST_CREDIT_GRANT,
                args=[org_id, grant_id],
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=LEDGER_RETRY,
            )
        except ActivityError as err:
            await workflow.execute_activity(
                names.MARK_CREDIT_GRANT_FAILED,
                args=[org_id, grant_id, str(err.cause or err)],
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
            )
            raise
        return reference
