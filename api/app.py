"""The Litestar application: ``/v1`` resources, OpenAPI 3.1 at ``/schema``, problem+json everywhere."""

from __future__ import annotations

import gc
from typing import Any

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from api.auth import authenticate
from api.context import Ctx, provide_ctx
from api.cors import CorsMiddleware
from api.disconnects import CancelOnDisconnect
from api.dto import plain_decimal_body
from api.errors import EXCEPTION_HANDLERS
from api.middleware import RequestIdMiddleware
from api.openapi import DecimalSchema, finish_openapi, served_openapi_document
from api.parameter_guard import UnstorableParameterGuard
from api.query_contract import QueryContract
from api.routes import V1_ROUTES
from api.routes.health import healthz, readyz
from api.temporal import TemporalClientProvider
from core.runtime.endpoints import admin_database_url, temporal_address
from core.secret_box import secret_box
from core.settings import Settings, app_url_for, load_settings
from persistence.db import make_engine, make_sessionmaker

API_DESCRIPTION = """
agencyflow API. Authenticate with `Authorization: Bearer <API key>`.

Conventions: every error is RFC 9457 `application/problem+json` (422 lists each bad field by JSON
pointer); lists use cursor pagination (`limit`, `cursor`, `next_cursor`); single resources carry an
`ETag` and updates honour `If-Match` (412 when stale); creating POSTs accept `Idempotency-Key`; every
response carries `X-Request-Id`. Another organisation's ids answer 404.
"""


_GC_YOUNG_THRESHOLD = 50_000


def _allow_every_method(app: Litestar) -> None:
    """Litestar builds a path's automatic ``OPTIONS`` handler with the route made from the first module that
    registers the path, so its ``Allow`` left out methods that other handlers add to the same path later
    (``/v1/clients`` answered ``GET, OPTIONS``). Rebind each to the finished route, which knows them all."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.handler_name == "options_handler":
                handler._fn = route.create_options_handler(route.path).fn


def create_app(
    settings: Settings | None = None, *, database_url: str | None = None, freeze_heap: bool = False
) -> Litestar:
    """``freeze_heap`` (the served API only, not tests that build many apps in one process): after startup,
    move every object alive to the collector's permanent generation, so the full collections a large
    response sets off walk what that response allocated instead of every imported module (a month-of-usage
    read spent a fifth of its time in them), and collect the youngest generation every 50,000 container
    allocations instead of 700: a batch of 1,000 events allocates some 10,000 short-lived, acyclic containers,
    which reference counting frees anyway, and the collections they set off cost ingest a tenth of the API's
    CPU."""
    settings = settings or load_settings()
    app_db_url = database_url or app_url_for(admin_database_url(settings))

    async def on_startup(app: Litestar) -> None:
        if freeze_heap:
            gc.collect()
            gc.freeze()
            gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        app.state.engine = make_engine(
            app_db_url,
            pool_size=20,
            max_overflow=20,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            idle_in_transaction_timeout_ms=settings.db_idle_in_transaction_timeout_ms,
        )
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        app.state.temporal_client = TemporalClientProvider(temporal_address(settings), settings.temporal_namespace)
        app.state.settings = settings
        app.state.secret_box = secret_box(settings)

    async def on_shutdown(app: Litestar) -> None:
        await app.state.engine.dispose()

    v1 = Router(
        path="/v1",
        route_handlers=V1_ROUTES,
        dependencies={"ctx": Provide(provide_ctx)},
        security=[{"apiKey": []}],
    )
    openapi = OpenAPIConfig(
        title="agencyflow",
        version="1.0.0",
        description=API_DESCRIPTION,
        path="/schema",
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(type="http", scheme="bearer", description="afk_… API key"),
            }
        ),
        use_handler_docstrings=True,
    )
    app = Litestar(
        route_handlers=[healthz, readyz, v1],
        before_request=authenticate,
        after_request=plain_decimal_body,  # every JSON body: Decimals in plain fixed-point form
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[CancelOnDisconnect, UnstorableParameterGuard, QueryContract],
        openapi_config=openapi,
        plugins=[DecimalSchema()],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        request_max_body_size=settings.max_body_bytes,
        signature_namespace={"Ctx": Ctx},
        debug=False,
        logging_config=None,
    )
    finish_openapi(app)
    _allow_every_method(app)
    # Around Litestar's whole handler, not per route: 404s, 405s and preflights of unknown paths also get a
    # request id, the security headers and (when enabled) CORS headers.
    app.asgi_handler = RequestIdMiddleware(CorsMiddleware(app.asgi_handler, settings.cors_origins))
    return app


def openapi_document(app: Litestar | None = None) -> dict[str, Any]:
    app = app or create_app(database_url="postgresql://unused@127.0.0.1/unused")
    return served_openapi_document(app)


def serve_app() -> Litestar:
    """Factory for ``uvicorn --workers N``: each worker process configures its own JSON logging."""
    from core.logging import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings, freeze_heap=True)
