"""The one exception tree of the service, and its one mapping to HTTP responses.

Stores and handlers raise `SluiceError` subclasses; `exception_handlers` turns every
error, ours or not, into `{"error": {"code", "message", "details"}}` with its status.

    SluiceError
    ├── BadRequest (400)
    │   ├── MalformedJSON (400)
    │   ├── InvalidQuery (400)
    │   └── TooManyResults (400)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── Conflict (409)
    ├── PayloadTooLarge (413)
    ├── ValidationFailed (422)
    ├── RateLimited (429, with Retry-After)
    ├── Unavailable (503, with Retry-After)
    │   └── ShuttingDown (503: the replica stopped before the request ended)
    └── StillRunning (504: a task waited for did not end in time; it carries on)

The flowServ-compatible surface answers the same errors as its client expects (every
error of a request marked FLOWSERV_ERRORS, whatever raised it): 401 as 403, 409 and 422
as 400, and the message also at the top level of the body (`{"message", "error": {...}}`).

A pymongo error that is transient (unreachable, hung or timed-out database, a write
conflict) is a 503 with Retry-After too; DocumentTooLarge (a document the request would
store is past MongoDB's 16 MiB, which the driver refuses before sending it) is a 413;
any other is a bug, a 500.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from pymongo.errors import ConnectionFailure, DocumentTooLarge, OperationFailure, PyMongoError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from service.jsonio import JSONResponse

log = logging.getLogger("sluice")


class SluiceError(Exception):
    """Base of every error the service answers with a 4xx or 503."""

    status_code = 500
    code = "internal_error"
    #: Response headers the answer carries besides the JSON body.
    headers: dict[str, str] | None = None

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(SluiceError):
    status_code = 400
    code = "bad_request"


class MalformedJSON(BadRequest):
    code = "malformed_json"


class InvalidQuery(BadRequest):
    code = "invalid_query"


class TooManyResults(BadRequest):
    code = "too_many_results"


class Unauthorized(SluiceError):
    status_code = 401
    code = "unauthorized"


class Forbidden(SluiceError):
    status_code = 403
    code = "forbidden"


class NotFound(SluiceError):
    status_code = 404
    code = "not_found"


class Conflict(SluiceError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(SluiceError):
    status_code = 413
    code = "payload_too_large"


class ValidationFailed(SluiceError):
    status_code = 422
    code = "validation_failed"


class RateLimited(SluiceError):
    """Too many requests: retry after `retry_after` seconds (the Retry-After header)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, details: Any, retry_after: int) -> None:
        super().__init__(message, details)
        self.headers = {"Retry-After": str(retry_after)}


#: Seconds a 503 asks the client to wait before retrying (its Retry-After header).
RETRY_AFTER_SECONDS = 1


class Unavailable(SluiceError):
    """The request cannot be served now (the database unreachable, hung or busy with a
    conflicting change, or the request past SLUICE_REQUEST_TIMEOUT); retry after
    RETRY_AFTER_SECONDS."""

    status_code = 503
    code = "database_unavailable"
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


#: Server error codes of a transient state: WriteConflict, MaxTimeMSExpired,
#: NoSuchTransaction (the transaction was aborted under us).
TRANSIENT_CODES = frozenset({112, 50, 251})


def is_transient(exc: PyMongoError) -> bool:
    """Whether `exc` says "retry later" (unreachable, hung, too slow or conflicting
    database) rather than "this request is wrong"."""
    if isinstance(exc, ConnectionFailure) or exc.timeout:
        return True
    if exc.has_error_label("TransientTransactionError"):
        return True
    return isinstance(exc, OperationFailure) and exc.code in TRANSIENT_CODES


def unavailable(exc: PyMongoError) -> Unavailable:
    """The 503 for a transient database error."""
    if exc.timeout:
        message = "the database did not answer within its time budget; retry later"
    elif isinstance(exc, ConnectionFailure):
        message = "the database is unreachable; retry later"
    else:
        message = "the database is busy with a conflicting change; retry later"
    return Unavailable(message, {"reason": _short(str(exc))})


class ShuttingDown(Unavailable):
    """The server stopped (SIGTERM, Ctrl-C) while the request was still open, once
    SLUICE_SHUTDOWN_GRACE_SECONDS had run out, before its answer had started. Like the
    other 503s, a write cut off may or may not have been applied."""

    code = "shutting_down"

    def __init__(self) -> None:
        super().__init__(
            "this Sluice replica is stopping: the request was still open when "
            "SLUICE_SHUTDOWN_GRACE_SECONDS ran out and was cut off before its answer; "
            "retry it (on another replica, or here once restarted). A write cut off may "
            "or may not have been applied",
            {"limit": "SLUICE_SHUTDOWN_GRACE_SECONDS"},
        )


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class StillRunning(SluiceError):
    """A request that waits for a task gave up waiting; the task itself goes on."""

    status_code = 504
    code = "still_running"


def _error_object(code: str, message: str, details: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def error_detail(exc: SluiceError) -> dict[str, Any]:
    """`exc` as the `{"code", "message", "details"}` of an error body: what a route
    answering items one by one gives as an item's error."""
    return _error_object(exc.code, exc.message, exc.details)


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
    flat: bool = False,
) -> Response:
    """The error body every failure uses; with `flat`, also AERO's top-level `code`
    (the status) and `message` beside it."""
    extra: dict[str, Any] = {"code": status_code, "message": message} if flat else {}
    return _error_body(extra, status_code, code, message, details, headers)


def _error_body(
    body: dict[str, Any],
    status_code: int,
    code: str,
    message: str,
    details: Any,
    headers: dict[str, str] | None,
) -> Response:
    error = _error_object(code, message, details)
    try:
        return JSONResponse({**body, "error": error}, status_code=status_code, headers=headers)
    except TypeError:
        # Details echoing client input JSON cannot encode (an integer past 64 bits) must
        # not turn a 4xx into a 500: send them as text.
        error["details"] = repr(details)
        return JSONResponse({**body, "error": error}, status_code=status_code, headers=headers)


#: Statuses the flowServ surface answers in place of Sluice's (its client and reference
#: server know 400, 403, 404 and 413).
FLOWSERV_STATUS = {401: 403, 409: 400, 422: 400}


#: Request scope key a compatibility surface sets (service.data.paths) when its
#: clients read errors as AERO's `{code: <status>, message}`.
FLAT_ERRORS = "sluice.flat_errors"
#: Request scope key the flowServ surface sets (service.flowserv.guard.FlowservErrors):
#: its client reads an error's top-level `message`, whether a handler, the request
#: deadline, the database or the router (an unknown path) failed the request.
FLOWSERV_ERRORS = "sluice.flowserv_errors"


def _answer(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if request.scope.get(FLOWSERV_ERRORS):
        # flowServ's statuses, and the message at the top level as its server has it.
        status = FLOWSERV_STATUS.get(status_code, status_code)
        return _error_body({"message": message}, status, code, message, details, headers)
    flat = bool(request.scope.get(FLAT_ERRORS))
    return error_response(status_code, code, message, details, headers, flat)


def error_answer(request: Request, exc: SluiceError) -> Response:
    """The response for `exc` in `request`'s surface's shape: what a handler raising it
    gets, for the code answering outside a handler (a request cut off by shutdown)."""
    return _answer(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _sluice_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SluiceError)
    return error_answer(request, exc)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return _answer(request, exc.status_code, code, str(exc.detail))


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PyMongoError)
    if not is_transient(exc):
        return await _unexpected_error(request, exc)
    answer = unavailable(exc)
    log.warning(
        "database unavailable during %s %s: %s", request.method, request.url.path, answer.details
    )
    return _answer(request, 503, answer.code, answer.message, answer.details, answer.headers)


async def _document_too_large(request: Request, exc: Exception) -> Response:
    # Small JSON values grow in BSON: a body within SLUICE_MAX_BODY_BYTES can still make
    # a document MongoDB refuses. The driver refused it before sending it.
    return _answer(
        request, 413, PayloadTooLarge.code,
        "a document this request would store is larger than MongoDB allows (16 MiB)",
        {"limit": "MongoDB's largest document", "reason": _short(str(exc))},
    )  # fmt: skip


#: Longest line of a logged traceback, and most lines: an error's message may quote a
#: whole client document, which the log must not echo.
MAX_LOG_LINE = 500
MAX_LOG_LINES = 60


def brief_traceback(exc: BaseException) -> str:
    """`exc`'s traceback with each line and the whole cut to a loggable size."""
    lines = "".join(traceback.format_exception(exc)).splitlines()
    if len(lines) > MAX_LOG_LINES:
        lines = [*lines[: MAX_LOG_LINES // 2], "...", *lines[-MAX_LOG_LINES // 2 :]]
    return "\n".join(
        line if len(line) <= MAX_LOG_LINE else f"{line[:MAX_LOG_LINE]}... ({len(line)} chars)"
        for line in lines
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.error(
        "unhandled error in %s %s\n%s", request.method, request.url.path, brief_traceback(exc)
    )
    return _answer(request, 500, "internal_error", "internal server error")


exception_handlers: dict[Any, Any] = {
    SluiceError: _sluice_error,
    HTTPException: _http_error,
    PyMongoError: _database_error,
    DocumentTooLarge: _document_too_large,  # a bson error, not a PyMongoError
    Exception: _unexpected_error,
}


def batch_too_large(count: int, max_batch: int, items: str) -> PayloadTooLarge:
    """The 413 for a request naming `count` `items` (documents, ids) past SLUICE_MAX_BATCH."""
    return PayloadTooLarge(
        f"{count} {items} exceed SLUICE_MAX_BATCH ({max_batch})",
        {"limit": "SLUICE_MAX_BATCH", "max_batch": max_batch},
    )


def bytes_too_large(what: str, setting: str, limit: int) -> PayloadTooLarge:
    """The 413 for `what` (a file, a request body) past `limit` bytes, the limit the
    setting named `setting` sets."""
    return PayloadTooLarge(
        f"{what} exceeds {setting} ({limit} bytes)", {"limit": setting, "max_bytes": limit}
    )


def too_many_results(cap: int, items: str) -> TooManyResults:
    """The 400 for a view asking for, or matching, more `items` than SLUICE_MAX_VIEW_RESULTS."""
    return TooManyResults(
        f"more than SLUICE_MAX_VIEW_RESULTS ({cap}) {items} requested or matching; "
        "page with skip and limit",
        {"limit": "SLUICE_MAX_VIEW_RESULTS", "max": cap},
    )
