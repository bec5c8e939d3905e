"""Structured JSON logs: one object per line, with the request id of the request being served."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
import traceback
from typing import Any

import msgspec

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
org_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("org_id", default=None)

_encoder = msgspec.json.Encoder()
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        org_id = org_id_var.get()
        if org_id:
            entry["org_id"] = org_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode("utf-8", "replace")

    def formatException(self, ei: Any) -> str:
        """The traceback as Python prints it, except that database errors say what failed, not with what:
        PostgreSQL's DETAIL echoes row values ("Failing row contains (…)", "Key (…)=(…)"), and a
        statement error would list its bound parameters; either may be an API key's hash or a sealed secret.
        """
        exc_type, exc_value, tb = ei
        if exc_value is None:
            return super().formatException(ei)
        formatted = traceback.TracebackException(exc_type, exc_value, tb)
        pending: list[tuple[Any, BaseException | None]] = [(formatted, exc_value)]
        seen: set[int] = set()
        while pending:
            node, exc = pending.pop()
            if node is None or exc is None or id(exc) in seen:
                continue
            seen.add(id(exc))
            safe = redacted_database_error(exc)
            if safe is not None:
                node._str = safe
            pending += [(node.__cause__, exc.__cause__), (node.__context__, exc.__context__)]
        return "".join(formatted.format()).rstrip("\n")


def _without_detail(message: str) -> str:
    return message.split("\nDETAIL:", 1)[0].split("\nHINT:", 1)[0]


def redacted_database_error(exc: BaseException) -> str | None:
    """A database error's text without DETAIL, HINT or bound parameters; None for any other exception.

    Recognised by shape, so ``core`` needs neither driver: asyncpg's errors (and SQLAlchemy's adapted
    driver errors) carry ``sqlstate``; SQLAlchemy's statement errors carry ``statement`` and ``orig``."""
    if hasattr(exc, "statement") and hasattr(exc, "orig"):
        orig = exc.orig
        inner = redacted_database_error(orig) if isinstance(orig, BaseException) else None
        text = f"({type(orig).__module__}.{type(orig).__qualname__}) {inner or _without_detail(str(orig))}"
        return text + (f"\n[SQL: {exc.statement}]" if exc.statement else "")
    state = getattr(exc, "sqlstate", None)
    if state is not None:
        message = str(exc.args[0]) if exc.args else type(exc).__name__
        return f"{_without_detail(message)} (SQLSTATE {state})"
    return None


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access", "temporalio.activity", "temporalio.workflow"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
