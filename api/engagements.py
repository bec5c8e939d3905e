"""Talking to engagement and billing-cycle workflows from request handlers.

Workflow Updates are how finance decides; a refused Update (validator or handler) is a state conflict for
the caller, so it becomes a 409 problem, never a 500 and never a second invoice.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.context import Ctx
from api.problems import Conflict, ProblemError


async def temporal(ctx: Ctx) -> Client:
    try:
        client: Client = await ctx.request.app.state.temporal_client()
    except Exception as exc:
        raise ProblemError(
            "Temporal is not reachable", status=503, slug="not-ready", title="Service not ready"
        ) from exc
    return client


async def handle(ctx: Ctx, workflow_id: str) -> WorkflowHandle[Any, Any]:
    return (await temporal(ctx)).get_workflow_handle(workflow_id)


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error)


async def update(ctx: Ctx, workflow_id: str, name: str, arg: Any, result_type: type | None = None) -> Any:
    workflow = await handle(ctx, workflow_id)
    try:
        return await workflow.execute_update(name, arg, result_type=result_type)
    except WorkflowUpdateFailedError as exc:
        raise Conflict(_cause(exc)) from exc
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise Conflict(f"the workflow no longer accepts {name}: {exc.message}") from exc
        raise


async def signal(ctx: Ctx, workflow_id: str, name: str, arg: Any = None) -> None:
    workflow = await handle(ctx, workflow_id)
    try:
        if arg is None:
            await workflow.signal(name)
        else:
            await workflow.signal(name, arg)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(f"the engagement is no longer running: {exc.message}") from exc
        raise
