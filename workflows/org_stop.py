"""Stopping a deleted organisation's engagements: nobody can approve their invoices any more.

Not a workflow: the API and the CLI call it with a Temporal client after the deletion has committed. It
terminates the org's running engagements, billing cycles and invoice collections (found by the
``AgencyflowOrg`` search attribute) and leaves ledger and credit-grant syncs alone, so an invoice approved
before the deletion still reaches the accounting system exactly once. Terminating an already-closed run is not
an error, so calling it again (a repeated deletion) is safe and finishes what an interrupted call left running.
"""

from __future__ import annotations

import uuid

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.search_attributes import ORG
from workflows import names

STOPPED_TYPES = (names.ENGAGEMENT_WORKFLOW, names.BILLING_CYCLE_WORKFLOW, names.INVOICE_COLLECTION_WORKFLOW)
REASON = "organisation deleted"


def running_query(org_id: uuid.UUID) -> str:
    types = ", ".join(f"'{name}'" for name in STOPPED_TYPES)
    # org_id is a UUID, so nothing of it can escape the quotes.
    return f"{ORG} = '{org_id}' AND ExecutionStatus = 'Running' AND WorkflowType IN ({types})"


async def stop_org_workflows(client: Client, org_id: uuid.UUID) -> int:
    """Terminate the org's running engagements and cycles; returns how many this call stopped."""
    stopped = 0
    async for execution in client.list_workflows(running_query(org_id)):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            await handle.terminate(reason=REASON)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            continue  # closed meanwhile (a cycle ends with its engagement)
        stopped += 1
    return stopped
