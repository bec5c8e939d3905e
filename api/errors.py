"""Exception handlers: every failure, ours or the framework's or the database's, leaves as problem+json."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from asyncpg import PostgresError
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError

from api.problems import PROBLEM_MEDIA_TYPE, Conflict, FieldError, ProblemError
from core.logging import request_id_var
from persistence.db import database_error, database_unavailable

log = logging.getLogger("agencyflow.api")
_encoder = msgspec.json.Encoder()

_HTTP_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict with the current state"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
}


def problem_response(request: Request[Any, Any, Any], error: ProblemError) -> Response[bytes]:
    problem = error.to_problem(instance=request.url.path, request_id=request_id_var.get())
    return Response(
        _encoder.encode(problem),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=error.headers,
    )


def handle_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[bytes]:
    if exc.status >= 500:
        log.error("request failed", exc_info=exc)
    return problem_response(request, exc)


# Litestar reports a missing required parameter only in its message (which also echoes the whole URL).
_MISSING = re.compile(r"^Missing required (?P<kind>\w+) parameter '(?P<name>[^']*)'")


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    """Query/path/header parameter errors from Litestar's signature model."""
    errors = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            key = str(item.get("key", ""))
            message = str(item.get("message", "invalid value"))
            if item.get("source") == "body":
                errors.append(FieldError(pointer="/" + key.replace(".", "/"), detail=message))
            else:
                errors.append(FieldError(parameter=key, detail=message))
    missing = _MISSING.match(exc.detail or "")
    if missing and not errors:
        errors.append(FieldError(parameter=missing["name"], detail=f"required {missing['kind']} parameter is missing"))
    error = ProblemError(
        "invalid request parameters",
        errors=errors or None,
        status=400,
        slug="bad-request",
        title="Bad request",
    )
    return problem_response(request, error)


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    slug, title = _HTTP_TITLES.get(exc.status_code, ("http-error", "HTTP error"))
    if exc.status_code >= 500:
        log.error("request failed", exc_info=exc)
        slug, title = "internal", "Internal server error"
    error = ProblemError(
        exc.detail if exc.status_code < 500 else "unexpected error; quote the request id to support",
        status=exc.status_code,
        slug=slug,
        title=title,
        headers=dict(exc.headers or {}),
    )
    return problem_response(request, error)


def handle_stale(request: Request[Any, Any, Any], exc: StaleDataError) -> Response[bytes]:
    return problem_response(request, Conflict("the resource was changed by another request; reload and retry"))


def handle_database(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Database errors, wrapped by SQLAlchemy or raised by asyncpg on the raw hot paths (ingest, API keys):
    concurrency conflicts ask for a retry, constraint violations name the constraint, the rest is a 500."""
    if database_unavailable(exc):
        return database_unavailable_response(request, exc)
    cause = database_error(exc)
    state = getattr(cause, "sqlstate", None)
    constraint = getattr(cause, "constraint_name", None)
    if state in ("40001", "40P01"):
        return problem_response(
            request,
            Conflict("a concurrent request touched the same data; retry", headers={"Retry-After": "1"}),
        )
    if state == "23505":
        return problem_response(
            request, Conflict(f"a resource with the same unique value already exists ({constraint})")
        )
    if state == "23503":
        return problem_response(request, Conflict(f"a referenced resource does not exist or is in use ({constraint})"))
    if state == "23514":
        return problem_response(
            request,
            ProblemError(
                f"value violates a rule ({constraint})",
                status=422,
                slug="validation",
                title="Request body failed validation",
            ),
        )
    return handle_unexpected(request, exc)


DATABASE_RETRY_AFTER_S = 2


def database_unavailable_response(request: Request[Any, Any, Any], exc: BaseException) -> Response[bytes]:
    """PostgreSQL down, restarting or out of connections: nothing the client did wrong, and nothing was
    acknowledged, so 503 and when to retry; the pool reconnects by itself once the server is back."""
    log.warning("database unavailable", extra={"error": type(exc).__name__})
    return problem_response(
        request,
        ProblemError(
            "the database is unavailable; retry shortly",
            status=503,
            slug="unavailable",
            title="Service unavailable",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        ),
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if database_unavailable(exc):
        return database_unavailable_response(request, exc)
    log.error("unhandled error", exc_info=exc)
    return problem_response(request, ProblemError("unexpected error; quote the request id to support"))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ProblemError: handle_problem,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    StaleDataError: handle_stale,
    DBAPIError: handle_database,
    PostgresError: handle_database,
    Exception: handle_unexpected,
}
