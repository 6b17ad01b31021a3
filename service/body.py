"""Reading request bodies: bounded in size, parsed as JSON."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request

from service.errors import BadRequest, MalformedJSON, PayloadTooLarge
from service.stores import stores


async def read_body(
    request: Request, max_bytes: int, setting: str = "SLUICE_MAX_BODY_BYTES"
) -> bytes:
    """The request body, refusing more than `max_bytes` (the limit `setting` names)
    before reading it all."""
    too_large = PayloadTooLarge(
        f"request body exceeds {setting} ({max_bytes} bytes)",
        {"limit": setting, "max_bytes": max_bytes},
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > max_bytes:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body parsed as JSON; 400 if it is not JSON, 413 if too large."""
    return parse_json(await read_body(request, max_bytes))


def parse_json(body: bytes) -> Any:
    """`body` (already read, within its limit) parsed as JSON; 400 if it is not JSON."""
    if not body.strip():
        raise MalformedJSON("request body is empty; expected JSON")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"request body is not valid JSON: {exc}") from None
    # Only bodies whose text could hold a NUL or a 19+ digit number need the full walk.
    if b"\\u0000" in body or _LONG_NUMBER.search(body):
        _check_storable(value, "body")
    return value


#: BSON integers are signed 64-bit; JSON parsing yields Python ints up to 2**64 - 1.
_INT64 = range(-(2**63), 2**63)
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def _check_storable(value: Any, path: str) -> None:
    """400 for JSON that MongoDB cannot hold: a key with a NUL character (BSON keys are
    NUL-terminated) or an integer outside the signed 64-bit range."""
    # Iterative: a body may nest deeper than Python's recursion limit.
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    raise BadRequest(
                        f"{where}: a key contains a NUL character, which cannot be stored",
                        {"key": f"{where}.{key.replace(chr(0), '?')}"},
                    )
                pending.append((child, f"{where}.{key}"))
        elif isinstance(item, list):
            pending.extend((child, f"{where}.{index}") for index, child in enumerate(item))
        elif isinstance(item, int) and not isinstance(item, bool) and item not in _INT64:
            raise BadRequest(
                f"{where}: integer {item} is outside the signed 64-bit range", {"key": where}
            )


async def request_json(request: Request) -> Any:
    """The request body as JSON, bounded by the app's SLUICE_MAX_BODY_BYTES."""
    return await read_json(request, stores(request).settings.max_body_bytes)
