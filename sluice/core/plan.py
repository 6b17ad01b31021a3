"""The plan core shared by every API's plans and by the sync and async senders.

Each client method is a *plan*: a generator that yields the HTTP `Call`s it needs, is
sent back what each call `received` (its decoded JSON), and returns the method's result. A
plan does no I/O, so the sync and async clients (sluice.core.sender) only differ in how they
send a call. `Call`, `received` and `expect` serve every API's plans.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson

from sluice.errors import ProtocolError, error_from_response

T = TypeVar("T")

Document = dict[str, Any]
Plan = Generator["Call", Any, T]
"""Yields calls, receives each one's decoded JSON, returns the method's result."""


@dataclass(frozen=True)
class Call:
    """One HTTP request, relative to the API's base URL.

    With `with_headers`, the plan is sent a `Reply` (body and response headers)
    instead of the bare body. `content` is a raw request body (instead of `json`);
    with `raw`, the plan is sent the response's bytes undecoded.
    """

    method: str
    path: str
    params: tuple[tuple[str, str], ...] | None = None
    json: Any = None
    headers: tuple[tuple[str, str], ...] | None = None
    with_headers: bool = False
    content: bytes | None = None
    raw: bool = False


@dataclass(frozen=True)
class Reply:
    """A successful response's decoded JSON body and its headers."""

    body: Any
    headers: Mapping[str, str]


def segment(value: object) -> str:
    """`value` as one path segment of a URL: every reserved character escaped, and a
    `.` or `..` escaped too, which HTTP clients would otherwise resolve against the path
    (`DELETE /experiments/E/tags/..` would delete experiment E)."""
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if text in (".", "..") else text


def decode(response: httpx.Response) -> Any:
    """The JSON body of a successful response; the mapped `APIError` otherwise."""
    if not response.is_success:
        raise error_from_response(response)
    try:
        return orjson.loads(response.content)
    except ValueError:
        snippet = response.text[:200]
        raise ProtocolError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code} with a body that is not JSON: {snippet!r}"
        ) from None


def received(call: Call, response: httpx.Response) -> Any:
    """What a plan is sent back for `call`: the decoded body, a `Reply`, or the bytes."""
    if call.raw:
        if not response.is_success:
            raise error_from_response(response)
        return response.content
    body = decode(response)
    return Reply(body, response.headers) if call.with_headers else body


def expect(value: Any, kind: type[T], what: str) -> T:
    """`value` if it is a `kind`; ProtocolError naming `what` was expected otherwise."""
    # bool is an int in Python, but never a valid count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"expected {what}, the server sent {json.dumps(value)[:200]}")
    return value


def info() -> Plan[Document]:
    """GET /version: the server's version object."""
    server = yield Call("GET", "/version")
    return expect(server, dict, "a JSON object from /version")
