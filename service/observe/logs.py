"""Log configuration: one format (`SLUICE_LOG_FORMAT`, text or JSON) for every line.

Every record logged while a request is served carries that request's id (the one
echoed in the `X-Request-ID` response header), so the lines of one request can be
found together.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

#: The id of the request being served, if any.
REQUEST_ID: ContextVar[str | None] = ContextVar("sluice_request_id", default=None)
#: Set in a request's task once service.observe.requests has answered (or ended) a
#: request cut off by a stopping server: the cancellation still goes up to uvicorn, whose
#: "Exception in ASGI application" traceback for it is then left out of the log.
CUT_OFF: ContextVar[bool] = ContextVar("sluice_cut_off", default=False)
#: Longest background-failure summary logged, in characters.
BRIEF_CHARS = 300
#: Loggers whose records go through Sluice's handler too (uvicorn's own lines).
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error")


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class _CutOffAnswered(logging.Filter):
    """Drops a server's traceback of the cancellation of a request already answered (or
    ended) for it: the request's own line says it was cut off."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, asyncio.CancelledError) and CUT_OFF.get())


class TextFormatter(logging.Formatter):
    """`time level logger: message [request id]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [{request_id}]" if request_id else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the
    `http` fields of a request line (method, path, route, status, duration_ms, client)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        http = getattr(record, "http", None)
        if isinstance(http, dict):
            entry["http"] = http
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str, fmt: str) -> None:
    """Send Sluice's records (and, in JSON, uvicorn's) to stderr in `fmt` ("text" or
    "json"), Sluice's at `level` and above, without uvicorn's traceback of a request cut
    off by shutdown (CUT_OFF). Calling it again replaces the handler."""
    # Neither format shows the calling line, thread or process, which the logging module
    # would otherwise look up for every record (a third of a request line's cost); these
    # are the switches its documentation names for that.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_RequestId())
    handler.set_name("sluice")
    sluice = logging.getLogger("sluice")
    for old in [h for h in sluice.handlers if h.get_name() == "sluice"]:
        sluice.removeHandler(old)
    sluice.addHandler(handler)
    sluice.setLevel(level.upper())
    sluice.propagate = False
    # On the logger, not a handler: uvicorn's text format has handlers of its own.
    server_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _CutOffAnswered) for f in server_errors.filters):
        server_errors.addFilter(_CutOffAnswered())
    if fmt == "json":
        for name in _SERVER_LOGGERS:
            server = logging.getLogger(name)
            server.handlers = [handler]
            server.propagate = False


def brief(exc: BaseException) -> str:
    """`exc` as one short line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return line if len(line) <= BRIEF_CHARS else line[: BRIEF_CHARS - 3] + "..."
