"""Database refusals that no retry can cure become non-retryable activity failures.

Why: Temporal retries a failed activity until its policy gives up, and the billing activities retry without
limit (a database that is down comes back). But a value PostgreSQL refuses — U+0000 in a text column
(``invalid byte sequence for encoding "UTF8": 0x00``), a string longer than its column, a number that
overflows — is refused the same way on every attempt: retried forever, it wedged an invoice's cycle and
held its decision lock. Those errors are raised here as ``ApplicationError(type="DataError",
non_retryable=True)``, so the calling workflow sees the failure at once and can answer it.

Classified as permanent: SQLSTATE class 22 (data exception) and, from class 23, the violations only a
different value can fix — NOT NULL (23502), CHECK (23514), RESTRICT (23001). Unique (23505), foreign-key
(23503) and exclusion (23P01) violations stay retryable: a concurrent transaction committing or rolling back
can change their outcome, and the activities are idempotent, so a retry is what resolves them.
The message carries PostgreSQL's own text and SQLSTATE, never the statement's parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from persistence.db import database_error

P = ParamSpec("P")
R = TypeVar("R")

DATA_ERROR = "DataError"
PERMANENT_INTEGRITY = frozenset({"23502", "23514", "23001"})


def is_permanent(sqlstate: str | None) -> bool:
    """True for a refusal that the same value would meet again on every retry."""
    if sqlstate is None:
        return False
    return sqlstate.startswith("22") or sqlstate in PERMANENT_INTEGRITY


def permanent_failure(exc: BaseException) -> ApplicationError | None:
    """The non-retryable failure standing for ``exc``, or None when ``exc`` may succeed on a retry."""
    cause = database_error(exc)
    state: str | None = getattr(cause, "sqlstate", None)
    if not is_permanent(state):
        return None
    message = str(getattr(cause, "message", None) or type(cause).__name__)
    return ApplicationError(
        f"the database refused the data (SQLSTATE {state}): {message}",
        {"sqlstate": state},
        type=DATA_ERROR,
        non_retryable=True,
    )


def data_errors_not_retried(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap an activity that writes user data: permanent database refusals fail it without a retry."""

    @functools.wraps(fn)
    async def classified(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ApplicationError:
            raise
        except Exception as exc:
            failure = permanent_failure(exc)
            if failure is None:
                raise
            raise failure from None

    return classified
