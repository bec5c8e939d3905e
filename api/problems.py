"""RFC 9457 problem details: the one error shape every endpoint answers with.

Handlers raise :class:`ProblemError` (or a subclass); the app's exception handlers turn it, and every
framework or database error we can classify, into ``application/problem+json``.
"""

from __future__ import annotations

from typing import Any

import msgspec

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://agencyflow.dev/problems/"


class FieldError(msgspec.Struct, omit_defaults=True):
    """One bad input: ``pointer`` (RFC 6901) into the JSON body, or ``parameter`` for query/path/header."""

    detail: str
    pointer: str | None = None
    parameter: str | None = None


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    extra: dict[str, Any] | None = None


class ProblemError(Exception):
    status = 500
    slug = "internal"
    title = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        status: int | None = None,
        title: str | None = None,
        slug: str | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        if slug is not None:
            self.slug = slug

    def to_problem(self, instance: str | None, request_id: str | None) -> Problem:
        return Problem(
            type=PROBLEM_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            request_id=request_id,
            errors=self.errors,
            extra=self.extra,
        )


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad request"


class MalformedJson(ProblemError):
    status, slug, title = 400, "malformed-json", "Request body is not valid JSON"


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str = "missing or invalid API key") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="agencyflow"'})


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict with the current state"


class PreconditionFailed(ProblemError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(ProblemError):
    status, slug, title = 422, "validation", "Request body failed validation"


class TooManyRequests(ProblemError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, retry_after_s: int, detail: str | None = None) -> None:
        super().__init__(
            detail or f"rate limit exceeded; retry after {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
        )


def not_found(entity: str, entity_id: object) -> NotFound:
    """Another tenant's id and a nonexistent id must be indistinguishable, so both say just this."""
    return NotFound(f"{entity} {entity_id} not found")
