"""Reading request bodies: bounded in size, parsed as JSON."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from service.errors import BadRequest, MalformedJSON, PayloadTooLarge


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refusing more than `max_bytes` before reading it all."""
    too_large = PayloadTooLarge(
        f"request body exceeds SLUICE_MAX_BODY_BYTES ({max_bytes} bytes)",
        {"limit": "SLUICE_MAX_BODY_BYTES", "max_bytes": max_bytes},
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
    body = await read_body(request, max_bytes)
    if not body.strip():
        raise MalformedJSON("request body is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"request body is not valid JSON: {exc}") from None


async def request_json(request: Request) -> Any:
    """The request body as JSON, bounded by the app's SLUICE_MAX_BODY_BYTES."""
    max_bytes: int = request.app.state.settings.max_body_bytes
    return await read_json(request, max_bytes)
