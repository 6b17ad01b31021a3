"""The content of one part of a `multipart/form-data` request body, streamed.

Starlette's form parser spools uploads to local temporary files; here the part's bytes
are handed on piece by piece as the body arrives, so an upload is written to GridFS as
it streams in and the answer follows the last byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from service.errors import BadRequest, bytes_too_large

#: Bytes of a multipart body allowed besides the part's content (boundaries, headers,
#: other small fields).
OVERHEAD = 64 * 1024


@dataclass
class _Parts:
    """Parser callbacks' state: the wanted part's pending bytes and where we are."""

    wanted: tuple[bytes, ...]
    #: The `filename` of the wanted part's Content-Disposition, once its headers are read.
    filename: str | None = None
    pieces: list[bytes] = field(default_factory=list)
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytes = b""
    header_value: bytes = b""
    inside: bool = False
    found: bool = False
    twice: bool = False
    ended: bool = False

    def on_part_begin(self) -> None:
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.inside = options.get(b"name") in self.wanted
        if self.inside:
            self.twice = self.found
            self.found = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.inside:
            self.pieces.append(data[start:end])

    def on_part_end(self) -> None:
        self.inside = False

    def on_end(self) -> None:
        self.ended = True


async def form_part(request: Request, name: str, max_bytes: int) -> AsyncIterator[bytes]:
    """The bytes of the part `name` of the request's multipart body, as they arrive.

    Raises (while iterating) 400 for a body that is not multipart/form-data, is
    malformed or truncated, lacks the part or has it twice; 413 once the body exceeds
    `max_bytes` plus OVERHEAD."""
    async for data in FormPart(request, (name,), max_bytes).chunks():
        yield data


class FormPart:
    """The one part of a multipart body named any of `names`, streamed by `chunks()`;
    `filename` is its Content-Disposition filename once its first bytes (or its end)
    have arrived. Past `max_bytes` plus OVERHEAD: 413 naming the `setting`."""

    def __init__(
        self,
        request: Request,
        names: tuple[str, ...],
        max_bytes: int,
        setting: str = "SLUICE_MAX_FILE_BYTES",
    ) -> None:
        self.request = request
        self.names = names
        self.max_bytes = max_bytes
        self.setting = setting
        self.parts = _Parts(tuple(name.encode() for name in names))

    @property
    def filename(self) -> str | None:
        return self.parts.filename

    async def chunks(self) -> AsyncIterator[bytes]:
        request, max_bytes, parts = self.request, self.max_bytes, self.parts
        wanted = " or ".join(repr(name) for name in self.names)
        kind, options = parse_options_header(request.headers.get("content-type"))
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise BadRequest("the body must be multipart/form-data with a boundary")
        limit = max_bytes + OVERHEAD
        too_large = bytes_too_large("file", self.setting, max_bytes)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        callbacks = {
            "on_part_begin": parts.on_part_begin,
            "on_header_field": parts.on_header_field,
            "on_header_value": parts.on_header_value,
            "on_header_end": parts.on_header_end,
            "on_headers_finished": parts.on_headers_finished,
            "on_part_data": parts.on_part_data,
            "on_part_end": parts.on_part_end,
            "on_end": parts.on_end,
        }
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise BadRequest(f"malformed multipart body: {exc}") from None
            if parts.twice:
                raise BadRequest(f"the body has more than one part named {wanted}")
            if parts.pieces:
                data = b"".join(parts.pieces)
                parts.pieces.clear()
                yield data
        if not parts.ended:
            raise BadRequest("the multipart body ends before its closing boundary")
        if not parts.found:
            raise BadRequest(f"the body has no part named {wanted}")
