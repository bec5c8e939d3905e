"""Query parameters (and documented headers) are held to the schema the OpenAPI document publishes for them,
before Litestar reads them.

Litestar converts query strings leniently (msgspec's lax mode): ``?until=null`` became "no filter",
``?until=1`` the instant 1970-01-01T00:00:01, ``?until=2026-01-01T00:00:00`` a time without an offset, and
``?limit=5.0`` the integer 5 — all answered 200 although the document says an RFC 3339 instant or an
integer. A client cannot tell a typo from a filter that matched nothing, so the server must refuse what the
document does not allow: 400 naming each bad parameter, all at once.

The check reads the finished document (``api.openapi``), so the rule the server applies and the one clients
are told are the same text. It covers the keywords our parameter schemas use (type, format, enum, pattern,
lengths, bounds; ``oneOf`` of those) and refuses a scalar parameter given more than once. Documented
request headers are checked the same way, so an empty ``Idempotency-Key`` is 400 on every operation that
takes one, also where a dry run never reaches the idempotency store.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl

from litestar import Litestar
from litestar.routes import HTTPRoute

from api.openapi import served_openapi_document
from api.problems import BadRequest, FieldError

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")

Rules = dict[str, dict[str, Any]]
"""Parameter name → its documented schema (query names as written, header names lower-cased)."""


def _format_problem(value: str, fmt: str | None) -> str | None:
    if fmt == "date-time":
        if not _RFC3339.match(value):
            return "must be an RFC 3339 date-time with an offset, e.g. 2026-11-01T00:00:00Z"
        try:
            datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            return "not a valid date-time"
    elif fmt == "date":
        if not _DATE.match(value):
            return "must be a date, YYYY-MM-DD"
        try:
            date.fromisoformat(value)
        except ValueError:
            return "not a valid date"
    elif fmt == "uuid":
        if not _UUID.match(value):
            return "must be a UUID (8-4-4-4-12 hex digits)"
        uuid.UUID(value)
    return None


def problem_with(value: str, schema: dict[str, Any]) -> str | None:
    """Why ``value`` (the query string text) does not satisfy ``schema``, or None."""
    branches = schema.get("oneOf") or schema.get("anyOf")
    if isinstance(branches, list):
        reasons = [
            problem_with(value, {**{k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}, **b})
            for b in branches
        ]
        return None if any(reason is None for reason in reasons) else next(r for r in reasons if r)
    kind = schema.get("type", "string")
    if kind == "integer":
        if not _INTEGER.match(value):
            return "must be an integer"
        number: float = int(value)
    elif kind == "number":
        if not _NUMBER.match(value):
            return "must be a number"
        number = float(value)
    elif kind == "boolean":
        return None if value in ("true", "false") else "must be true or false"
    elif kind == "string":
        if (reason := _format_problem(value, schema.get("format"))) is not None:
            return reason
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"must be at least {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"must be at most {schema['maxLength']} characters"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"must match {schema['pattern']}"
        number = 0
    else:
        return None  # arrays and objects are not used as query parameters here
    if "enum" in schema and value not in {str(option) for option in schema["enum"]}:
        return "must be one of " + ", ".join(str(option) for option in schema["enum"])
    if kind in ("integer", "number"):
        if "minimum" in schema and number < schema["minimum"]:
            return f"must be at least {schema['minimum']:g}"
        if "maximum" in schema and number > schema["maximum"]:
            return f"must be at most {schema['maximum']:g}"
    return None


def query_problems(query_string: str, rules: Rules) -> list[FieldError]:
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    errors: list[FieldError] = []
    for name, given in values.items():
        schema = rules.get(name)
        if schema is None:
            continue  # unknown parameters are ignored, as HTTP caches and proxies expect
        if len(given) > 1 and schema.get("type") != "array":
            errors.append(FieldError(parameter=name, detail="given more than once"))
            continue
        if (reason := problem_with(given[0], schema)) is not None:
            errors.append(FieldError(parameter=name, detail=reason))
    return errors


def _resolved(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """The schema with a local ``$ref`` (an enum published as a component) replaced by its target."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        target = document["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
        rest = {key: value for key, value in schema.items() if key != "$ref"}
        return {**_resolved(target, document), **rest}
    return schema


def header_problems(headers: list[tuple[bytes, bytes]], rules: Rules) -> list[FieldError]:
    """The documented request headers (``Idempotency-Key``: 1 to 255 characters) against their schemas."""
    errors: list[FieldError] = []
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        schema = rules.get(name)
        if schema is not None and (reason := problem_with(raw_value.decode("latin-1"), schema)) is not None:
            errors.append(FieldError(parameter=schema.get("x-name", name), detail=reason))
    return errors


def rules_by_handler(app: Litestar) -> dict[int, tuple[Rules, Rules]]:
    """``id(route handler) → (query rules, header rules)`` for every documented operation."""
    document = served_openapi_document(app)
    found: dict[int, tuple[Rules, Rules]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        item = document.get("paths", {}).get(route.path_format, {})
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation = item.get(method.lower())
                if operation is None:
                    continue
                parameters = operation.get("parameters", [])
                query = {p["name"]: _resolved(p.get("schema", {}), document) for p in parameters if p["in"] == "query"}
                headers = {
                    p["name"].lower(): {**_resolved(p.get("schema", {}), document), "x-name": p["name"]}
                    for p in parameters
                    if p["in"] == "header"
                }
                if query or headers:
                    found[id(handler)] = (query, headers)
    return found


class QueryContract:
    """ASGI middleware (inside Litestar's routing, so the matched handler is known)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            litestar_app: Litestar = scope["litestar_app"]
            table: dict[int, tuple[Rules, Rules]] | None = getattr(litestar_app.state, "parameter_rules", None)
            if table is None:
                table = rules_by_handler(litestar_app)
                litestar_app.state.parameter_rules = table
            rules = table.get(id(scope.get("route_handler")))
            if rules is not None:
                query = scope.get("query_string", b"").decode("latin-1")
                errors = (query_problems(query, rules[0]) if query else []) + header_problems(
                    scope["headers"], rules[1]
                )
                if errors:
                    raise BadRequest(f"{len(errors)} invalid parameter(s)", errors=errors)
        await self.app(scope, receive, send)
