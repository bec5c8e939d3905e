"""Query, path and header parameters PostgreSQL could not store answer 400 naming them, on every route.

A middleware rather than a check per handler: it runs after routing (so path parameters are known) and
before Litestar parses the handler's parameters, so the rule (``api.validators.unstorable``) holds for
every route, one that will be added tomorrow included, and names the offending parameter even when
another one is missing. Bodies follow the same rule in ``api.decoding``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec

from api.problems import PROBLEM_MEDIA_TYPE, BadRequest
from api.validators import unstorable_parameters
from core.logging import request_id_var

_encoder = msgspec.json.Encoder()


def _query(raw: bytes) -> list[tuple[str, str]]:
    """Decoded exactly as Litestar decodes them for the handler (percent-escapes as UTF-8, bad bytes
    replaced), so ``%00`` is seen here as the NUL the handler would get."""
    return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)


class UnstorableParameterGuard:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
            errors = unstorable_parameters(
                _query(scope.get("query_string", b"")), scope.get("path_params") or {}, headers
            )
            if errors:
                error = BadRequest("invalid request parameters", errors=errors)
                body = _encoder.encode(error.to_problem(instance=scope.get("path"), request_id=request_id_var.get()))
                await send(
                    {
                        "type": "http.response.start",
                        "status": error.status,
                        "headers": [
                            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
