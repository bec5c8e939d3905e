"""Request ids and access logs as a bare ASGI middleware, outermost, so even 404s and 500s carry both."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from api.security_headers import with_security_headers
from core.logging import org_id_var, request_id_var

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
access_log = logging.getLogger("agencyflow.access")


class RequestIdMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        org_token = org_id_var.set(None)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": with_security_headers(scope.get("path", ""), headers)}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            status = 500 if status is None else status
            raise
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    # No response at all: the client left and the request was cancelled (api.disconnects).
                    "status": 499 if status is None else status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)
            org_id_var.reset(org_token)
