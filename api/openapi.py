"""Finish the generated OpenAPI document: every operation documents its problem+json errors, and the
``Problem`` schema is published once under components.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference

from api.problems import PROBLEM_MEDIA_TYPE, Problem

_COMMON = {
    "400": "Malformed request: broken JSON or invalid query/path parameters (problem+json).",
    "401": "Missing, malformed or revoked API key.",
    "403": "The key's role or scopes do not allow this action.",
    "404": "No such resource in your organisation (another organisation's ids answer 404 too).",
    "409": "Conflicts with the current state (duplicate, stale action, still referenced).",
    "412": "If-Match did not match the current ETag.",
    "413": "Request body too large.",
    "415": "Body is not JSON.",
    "422": "Body failed validation; `errors[]` names each bad field by JSON pointer.",
    "429": "Rate limited; see Retry-After.",
}
_EXAMPLE = {
    "type": "https://agencyflow.dev/problems/validation",
    "title": "Request body failed validation",
    "status": 422,
    "detail": "2 invalid field(s)",
    "instance": "/v1/clients",
    "request_id": "5b0e1b9c2f6a4d7e9c1f0a3b4c5d6e7f",
    "errors": [
        {"pointer": "/currency", "detail": "'EURO' is not an ISO 4217 currency code"},
        {"pointer": "/timezone", "detail": "'Mars/Olympus' is not an IANA time zone"},
    ],
}


def problem_schema() -> dict[str, Any]:
    _schema, components = msgspec.json.schema_components([Problem], ref_template="#/components/schemas/{name}")
    return {"Problem": components["Problem"], "FieldError": components["FieldError"]}


def finish_openapi(app: Litestar) -> None:
    document = app.openapi_schema
    if document.components.schemas is None:
        document.components.schemas = {}
    document.components.schemas.update(problem_schema())  # type: ignore[arg-type]
    reference = Reference(ref="#/components/schemas/Problem")
    for path_item in (document.paths or {}).values():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(path_item, method, None)
            if operation is None:
                continue
            responses = operation.responses or {}
            for code, description in _COMMON.items():
                responses[code] = OpenAPIResponse(
                    description=description,
                    content={
                        PROBLEM_MEDIA_TYPE: OpenAPIMediaType(
                            schema=reference, example=_EXAMPLE if code == "422" else None
                        )
                    },
                )
            operation.responses = responses
