"""The one exception tree of the Sluice client.

Every failure a client call can have is a `SluiceError`; catch that to catch them all.

    SluiceError
    ├── TransportError        the server could not be reached, or did not answer in time
    ├── ProtocolError         the server answered something that is not the expected JSON
    └── APIError              the server answered with an error status (see `status_code`)
        ├── BadRequest        400: malformed JSON, an operator that is not allowed, ...
        ├── Unauthorized      401
        ├── Forbidden         403
        ├── NotFound          404: e.g. updating or locking ids that do not exist
        │   ├── WorkfileNotFound  no workfile with that id (or name)
        │   └── ResultsNotFound   no run with that process id (of that workfile)
        ├── Conflict          409: a locked result, an id deposited twice
        ├── PayloadTooLarge   413: a body or batch past the service's limits
        ├── ValidationFailed  422: a document or request that fails validation
        ├── RateLimited       429: past the per-token request rate; see `retry_after`
        ├── WorkflowVariable  400/422: a run's variables are undeclared or malformed
        └── ServerError       5xx
            └── Unavailable   503: the database unreachable or slow, or the replica
                              stopping; retrying later may work

Runs of workfiles add errors that are not one response: `RunFlowFailure` (the run
failed, or is unknown), `RunFlowTimeout` (it outlived the wait; it was stopped),
`StopFlowFailure` (no such run to stop) and `FlowResultsMalformed` (a report lacks a
part), all direct `SluiceError`s.

An `APIError` carries what the service said: `status_code`, `code` (a stable machine
name such as "conflict"), `message` (one human sentence) and `details` (JSON or None).
`error_from_response` is the only place a response becomes an exception.
"""

from __future__ import annotations

from typing import Any

import httpx


class SluiceError(Exception):
    """Base of every error the client raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransportError(SluiceError):
    """The server could not be reached, or did not answer within the timeout."""


class ProtocolError(SluiceError):
    """The server answered with a body the client cannot use."""


class APIError(SluiceError):
    """The server answered with an error status."""

    def __init__(self, message: str, *, status_code: int, code: str, details: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status_code} {self.code})"


class BadRequest(APIError):
    """400: the request is malformed or asks for something not allowed."""


class Unauthorized(APIError):
    """401: a token is required, or the one sent is not valid."""


class Forbidden(APIError):
    """403: the token is valid but may not do this."""


class NotFound(APIError):
    """404: what the request names does not exist."""


class Conflict(APIError):
    """409: the request clashes with stored state (a lock, an existing id)."""


class PayloadTooLarge(APIError):
    """413: the body or batch exceeds a limit of the service."""


class ValidationFailed(APIError):
    """422: a document or request body fails validation; nothing was written."""


class WorkfileNotFound(NotFound):
    """404: no workfile with that id (or that name in the workspace)."""


class ResultsNotFound(NotFound):
    """404: no run with that process id (or not a run of that workfile)."""


class WorkflowVariable(APIError):
    """400 or 422: a run named a variable its workflow does not declare, or a
    variable lacks its `name` or `value`. Nothing was started."""


class RunFlowFailure(SluiceError):
    """The run ended with FAILURE (`status`), or no run has that process id."""

    def __init__(self, message: str, process_id: str, status: str | None = None) -> None:
        super().__init__(message)
        self.process_id = process_id
        self.status = status


class RunFlowTimeout(SluiceError):
    """The run did not finish within the wait's timeout; it was asked to stop."""

    def __init__(self, message: str, process_id: str) -> None:
        super().__init__(message)
        self.process_id = process_id


class StopFlowFailure(SluiceError):
    """No run with that process id to stop."""


class FlowResultsMalformed(SluiceError):
    """A run report lacks `flowMetaInfo` or `outputs`."""


class RateLimited(APIError):
    """429: the token sent more requests than the service's rate limit allows."""

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait before retrying, as the service said."""
        if isinstance(self.details, dict) and isinstance(self.details.get("retry_after"), int):
            return float(self.details["retry_after"])
        return None


class ServerError(APIError):
    """5xx: the service failed."""


class Unavailable(ServerError):
    """503: the service cannot serve the request right now (its database unreachable,
    hung or busy, the request past its deadline, or the replica stopping)."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    503: Unavailable,
}


#: Error codes with a class of their own, more precise than their status's.
_BY_CODE: dict[str, type[APIError]] = {
    "workfile_not_found": WorkfileNotFound,
    "process_not_found": ResultsNotFound,
    "unknown_variable": WorkflowVariable,
}


def error_class(status_code: int, code: str | None = None) -> type[APIError]:
    """The exception class for an error status and, where it says more, its code."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    return ServerError if status_code >= 500 else APIError


def error_from_response(response: httpx.Response) -> APIError:
    """The exception describing an error response, from its JSON error body when it
    has one, else from its status line (a proxy's HTML page, say)."""
    status = response.status_code
    code, message, details = f"http_{status}", "", None
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        code = str(error.get("code") or code)
        message = str(error.get("message") or "")
        details = error.get("details")
    if not message:
        reason = response.reason_phrase or "error"
        message = f"{response.request.method} {response.request.url} answered {status} {reason}"
    return error_class(status, code)(message, status_code=status, code=code, details=details)


def error_from_transport(exc: httpx.RequestError) -> SluiceError:
    """The exception for a request that got no usable response."""
    target = f"{exc.request.method} {exc.request.url}"
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(f"{target} timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return TransportError(f"cannot reach the server for {target}: {exc or type(exc).__name__}")
    return ProtocolError(f"{target} failed: {exc or type(exc).__name__}")
