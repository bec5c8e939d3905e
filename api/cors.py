"""Cross-origin access for browser apps: off unless ``AGENCYFLOW_CORS_ORIGINS`` lists the origins allowed.

Off means no ``Access-Control-*`` header is ever sent, so browsers keep other sites' pages from reading
the API with a user's key; an ``OPTIONS`` request still answers 204 with ``Allow`` (it needs no key: a
browser's preflight never carries one). For an allowed origin, preflights get the methods, the request
headers this API reads (including the CloudEvents binary-mode ``ce-*`` headers) and a max age, and every
response exposes the headers clients need (``ETag``, ``Location``, ``Retry-After`` …). Credentials are
never allowed: the API authenticates with a bearer key, not cookies. A disallowed origin simply gets no
CORS headers; nothing here can fail a request.
"""

from __future__ import annotations

from typing import Any, Final

ALLOWED_METHODS: Final = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS: Final = frozenset(
    {
        "authorization",
        "x-api-key",
        "content-type",
        "if-match",
        "if-none-match",
        "idempotency-key",
        "x-request-id",
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "ce-subject",
        "ce-time",
    }
)
EXPOSED_HEADERS: Final = b"ETag, Location, Retry-After, X-Request-Id, Idempotent-Replayed"
MAX_AGE_S: Final = 600


class CorsMiddleware:
    """Bare ASGI middleware; the routing (and the 204 answer to ``OPTIONS``) stays Litestar's."""

    def __init__(self, app: Any, origins: tuple[str, ...]) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(o.rstrip("/") for o in origins)

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.origins:
            await self.app(scope, receive, send)
            return
        origin = requested = method = None
        for name, value in scope.get("headers", ()):
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                method = value
            elif name == b"access-control-request-headers":
                requested = value.decode("latin-1")
        if origin is None or not self.allowed(origin):
            await self.app(scope, receive, send)
            return
        added: list[tuple[bytes, bytes]] = [
            (b"access-control-allow-origin", b"*" if self.any_origin else origin.encode("latin-1")),
            (b"vary", b"Origin"),
        ]
        if scope["method"] == "OPTIONS" and method is not None:
            asked = {h.strip().lower() for h in (requested or "").split(",") if h.strip()}
            granted = sorted(ALLOWED_HEADERS | {h for h in asked if h.startswith("ce-")})
            added += [
                (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
                (b"access-control-allow-headers", ", ".join(granted).encode("latin-1")),
                (b"access-control-max-age", str(MAX_AGE_S).encode()),
            ]
        else:
            added.append((b"access-control-expose-headers", EXPOSED_HEADERS))

        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        await self.app(scope, receive, send_with_cors)
