"""Talking to engagement and billing-cycle workflows from request handlers.

Workflow Updates are how finance decides. What can come back, and what the caller gets:

- the Update's validator refused the input (``workflows.update_checks``: text PostgreSQL cannot store, an
  amount out of bounds, a missing reason) → 422 naming each field with a pointer into the request body;
- the Update's activity hit a database refusal no retry can cure (``activities.data_errors``) → 422;
- any other refusal (validator or handler: wrong state, a stale or repeated decision) → 409, never a 500
  and never a second invoice;
- the workflow does not answer within ``Settings.update_wait_s`` (no worker running, a worker wedged),
  Temporal is unreachable, or it refuses more in-flight Updates → 503 with ``Retry-After``. The request
  never hangs: an Update the workflow has not yet taken may still be applied once a worker is back; a
  retry then meets the new state (409) or does the same thing once, never twice.

While it waits, the request holds no database transaction (``Ctx.transaction_released``): a workflow may
take its time, an idle transaction holding a pooled connection must not.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.context import Ctx
from api.problems import Conflict, FieldError, ProblemError, ValidationFailed
from workflows.update_checks import INVALID_INPUT

T = TypeVar("T")

DATA_ERROR = "DataError"
"""``activities.data_errors.DATA_ERROR``, spelled here: the API does not import the worker side."""
RETRY_AFTER_S = 5
"""Seconds a client should wait before retrying when a workflow did not answer or Temporal is unavailable."""
_UNAVAILABLE = (
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
)


class WorkflowUnavailable(ProblemError):
    status, slug, title = 503, "workflow-unavailable", "The workflow did not answer in time"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": str(RETRY_AFTER_S)})


async def temporal(ctx: Ctx) -> Client:
    try:
        client: Client = await ctx.request.app.state.temporal_client()
    except Exception as exc:
        raise ProblemError(
            "Temporal is not reachable",
            status=503,
            slug="not-ready",
            title="Service not ready",
            headers={"Retry-After": "5"},
        ) from exc
    return client


async def handle(ctx: Ctx, workflow_id: str) -> WorkflowHandle[Any, Any]:
    return (await temporal(ctx)).get_workflow_handle(workflow_id)


def wait_bound_s(ctx: Ctx) -> float:
    """``Settings.update_wait_s``: the longest a request waits on a workflow."""
    return float(ctx.request.app.state.settings.update_wait_s)


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error)


def _application_error(error: BaseException) -> ApplicationError | None:
    """The innermost ``ApplicationError`` with a type of ours (a validator's refusal, an activity's)."""
    found: ApplicationError | None = None
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, ApplicationError) and current.type in (INVALID_INPUT, DATA_ERROR):
            found = current
        current = current.__cause__
    return found


def _field_errors(error: ApplicationError) -> list[FieldError] | None:
    details = error.details[0] if error.details else None
    items = details.get("errors") if isinstance(details, dict) else None
    if not isinstance(items, list):
        return None
    errors = [
        FieldError(pointer=str(item.get("pointer", "/")), detail=str(item.get("detail", "invalid value")))
        for item in items
        if isinstance(item, dict)
    ]
    return errors or None


def refusal(exc: WorkflowUpdateFailedError, name: str) -> ProblemError:
    """The problem a failed Update answers with: 422 for bad input or data, 409 for any other refusal."""
    app_error = _application_error(exc)
    if app_error is not None and app_error.type == INVALID_INPUT:
        return ValidationFailed(app_error.message, errors=_field_errors(app_error))
    if app_error is not None:
        return ValidationFailed(f"{name} could not be stored: {app_error.message}")
    return Conflict(_cause(exc))


async def bounded(ctx: Ctx, what: str, call: Callable[[], Awaitable[T]], *, release_transaction: bool) -> T:
    """Run one call to Temporal within ``Settings.update_wait_s``; past the bound, or when Temporal is
    unavailable or overloaded, the caller gets 503 + Retry-After.

    ``release_transaction``: commit the request's transaction before waiting and open a new one after
    (``Ctx.transaction_released``) — for waits on a workflow, when the caller has written nothing yet and
    holds no lock it needs afterwards."""
    if not release_transaction:
        return await _within(wait_bound_s(ctx), what, call)
    async with ctx.transaction_released():
        return await _within(wait_bound_s(ctx), what, call)


async def _within(bound: float, what: str, call: Callable[[], Awaitable[T]]) -> T:
    try:
        async with asyncio.timeout(bound):
            return await call()
    except TimeoutError as exc:
        raise WorkflowUnavailable(
            f"the workflow did not answer {what} within {_seconds(bound)}; it may still apply it, "
            "so read the resource again before retrying"
        ) from exc
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        raise WorkflowUnavailable(f"the workflow did not answer {what} in time") from exc
    except RPCError as exc:
        if exc.status in _UNAVAILABLE:
            raise WorkflowUnavailable(f"Temporal could not take {what} now: {exc.message}") from exc
        raise


def _seconds(value: float) -> str:
    return f"{math.ceil(value)} s"


async def update(ctx: Ctx, workflow_id: str, name: str, arg: Any, result_type: type | None = None) -> Any:
    """Execute a workflow Update and return its result; the caller must not have written anything yet
    (the request's transaction is committed before the wait, see ``Ctx.transaction_released``)."""

    async def call() -> Any:
        workflow = await handle(ctx, workflow_id)
        return await workflow.execute_update(name, arg, result_type=result_type)

    try:
        return await bounded(ctx, name, call, release_transaction=True)
    except WorkflowUpdateFailedError as exc:
        raise refusal(exc, name) from exc
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise Conflict(f"the workflow no longer accepts {name}: {exc.message}") from exc
        raise


async def signal(ctx: Ctx, workflow_id: str, name: str, arg: Any = None) -> None:
    """Send a signal within the same bound (a signal returns once Temporal stored it, so this is the
    reachability of Temporal, not of a worker). The caller's transaction stays open: signals follow a row
    lock the caller means to keep until it commits."""

    async def call() -> None:
        workflow = await handle(ctx, workflow_id)
        if arg is None:
            await workflow.signal(name)
        else:
            await workflow.signal(name, arg)

    try:
        await bounded(ctx, name, call, release_transaction=False)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(f"the engagement is no longer running: {exc.message}") from exc
        raise
