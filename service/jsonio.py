"""JSON in and out: bounded request bodies, fast encoding, streamed arrays."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

import orjson
from bson import ObjectId
from starlette.responses import Response, StreamingResponse

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """Encode `value` as JSON bytes (BSON ObjectIds become strings)."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


class JSONResponse(Response):
    """A JSON response encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


#: Bytes of encoded documents gathered before a streamed chunk is sent.
CHUNK_BYTES = 256 * 1024


async def _array_chunks(
    documents: AsyncIterable[Mapping[str, Any]], batch: int
) -> AsyncIterator[bytes]:
    # Whole batches per chunk: one write per document would dominate the cost. A batch
    # ends early past CHUNK_BYTES, so large documents are not held many at a time.
    yield b"["
    parts: list[bytes] = []
    size = 0
    first = True
    async for document in documents:
        parts.append(dumps(document))
        size += len(parts[-1])
        if len(parts) >= batch or size >= CHUNK_BYTES:
            yield (b"" if first else b",") + b",".join(parts)
            first = False
            parts = []
            size = 0
    if parts:
        yield (b"" if first else b",") + b",".join(parts)
    yield b"]"


def stream_array(
    documents: AsyncIterable[Mapping[str, Any]] | list[Any], batch: int = 200
) -> Response:
    """Stream `documents` as one JSON array without holding them all in memory; a list
    (already in memory) is answered at once."""
    if isinstance(documents, list):
        return JSONResponse(documents)
    return StreamingResponse(_array_chunks(documents, batch), media_type="application/json")
