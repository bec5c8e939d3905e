"""The platform operator: whoever runs the installation, proven by ``AGENCYFLOW_PLATFORM_TOKEN``.

Platform routes create and delete organisations, so they sit outside any org's keys; without a configured
token they do not exist (404), and the token is compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request

from api.auth import bearer_token
from api.problems import NotFound, Unauthorized
from core.settings import Settings


def platform_operator(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    if not settings.platform_token:
        raise NotFound("not found")
    sent = bearer_token(request) or ""
    if not hmac.compare_digest(sent.encode(), settings.platform_token.encode()):
        raise Unauthorized("missing or wrong platform token")
    return settings
