"""A request whose client has gone is cancelled, so its transaction rolls back and its connection returns.

ASGI servers do not stop an application when the client disconnects: they only report it through
``receive()``, which nobody calls once the body has been read. A handler waiting on something slow (a
workflow, a lock) would keep its transaction open, idle, and its pooled connection taken for as long as it
waits; 48 abandoned requests left 39 such transactions and starved every other organisation's requests
of connections. This middleware listens for the disconnect once the body is in and cancels the request's
task; the database's ``idle_in_transaction_session_timeout`` (``core.settings``) is the backstop.

A request whose response has started is left alone: by then its transaction has committed (``api.context``),
and cancelling could only cut off a body the client no longer wants anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class CancelOnDisconnect:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One reader of the server's messages (the body, then the disconnect, which a bodiless GET's
        # handler never asks for); the application reads them from this queue in the same order.
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        started = False
        left = False

        async def app_receive() -> Any:
            message = await inbox.get()
            if message["type"] == "http.disconnect":
                inbox.put_nowait(message)  # every later call sees it too, as with the server's own receive
            return message

        async def app_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, app_receive, app_send))

        async def pump() -> None:
            nonlocal left
            while True:
                message = await receive()
                inbox.put_nowait(message)
                if message["type"] == "http.disconnect":
                    if not started and not task.done():
                        left = True
                        task.cancel()
                    return

        reader = asyncio.ensure_future(pump())
        try:
            await task
        except asyncio.CancelledError:
            if not left:
                # Cancelled from outside (the server shutting down), not by the client leaving: pass it on.
                task.cancel()
                raise
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
