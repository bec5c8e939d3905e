"""A database error answers the same problem+json whether SQLAlchemy wrapped it or asyncpg raised it on a
raw hot path (ingest, API-key checks): a deadlock asks for a retry instead of answering 500."""

from __future__ import annotations

import asyncpg.exceptions as pg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from sqlalchemy.exc import DBAPIError

from api.errors import EXCEPTION_HANDLERS
from persistence.db import sqlstate


def _raising(exc: Exception) -> Litestar:
    @get("/boom")
    async def boom() -> None:
        raise exc

    return Litestar([boom], exception_handlers=EXCEPTION_HANDLERS)


def _wrapped(cause: Exception) -> DBAPIError:
    """What SQLAlchemy's asyncpg dialect raises: its own error, with the driver's as ``orig.__cause__``."""
    orig = Exception("adapted")
    orig.__cause__ = cause
    return DBAPIError("statement", {}, orig)


def _unique_violation() -> pg.UniqueViolationError:
    error = pg.UniqueViolationError("duplicate key")
    error.constraint_name = "uq_thing"
    return error


@pytest.mark.parametrize("wrap", [False, True], ids=["raw", "wrapped"])
@pytest.mark.parametrize(
    ("make", "status", "detail"),
    [
        (lambda: pg.DeadlockDetectedError("deadlock"), 409, "a concurrent request touched the same data; retry"),
        (lambda: pg.SerializationError("serialize"), 409, "a concurrent request touched the same data; retry"),
        (_unique_violation, 409, "a resource with the same unique value already exists (uq_thing)"),
        (lambda: pg.UndefinedTableError("no table"), 500, "unexpected error; quote the request id to support"),
    ],
)
def test_database_errors_map_the_same_raw_or_wrapped(make, status, detail, wrap) -> None:
    cause = make()
    with TestClient(_raising(_wrapped(cause) if wrap else cause)) as client:
        response = client.get("/boom")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == detail
    if status == 409 and "retry" in detail:
        assert response.headers["retry-after"] == "1"


def test_sqlstate_reads_raw_and_wrapped_errors_and_nothing_else() -> None:
    assert sqlstate(pg.DeadlockDetectedError("x")) == "40P01"
    assert sqlstate(_wrapped(pg.SerializationError("x"))) == "40001"
    assert sqlstate(ValueError("x")) is None
