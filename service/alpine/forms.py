"""Reading the Alpine client's request bodies, whatever `Content-Type` claims.

Each route knows its body's format: a urlencoded form (login, workspace create), a
multipart form (workfile upload), or an optional JSON object (paging of a GET, the
run's variables). Every body is read within a limit first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from service.body import parse_json, read_body
from service.errors import BadRequest
from service.stores import stores

#: Largest urlencoded form (login, workspace create).
MAX_FORM_BYTES = 16 * 1024
#: Most fields of a urlencoded form, and parts of a multipart form.
MAX_FIELDS = 64
#: Most characters of a multipart boundary (RFC 2046 allows 70).
MAX_BOUNDARY = 70

_PARAMETER = re.compile(r';\s*([A-Za-z0-9_*-]+)="([^"]*)"')


async def read_form(request: Request) -> dict[str, str]:
    """The body as a urlencoded form: first value of each field (empty body: none)."""
    body = await read_body(request, MAX_FORM_BYTES, "the form limit")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the body is not a urlencoded form: {exc}") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


async def read_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; {} for an empty body (the client often sends none)."""
    body = await read_body(request, stores(request).settings.max_body_bytes)
    if not body.strip():
        return {}
    value = parse_json(body)
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", {"type": type(value).__name__})
    return value


@dataclass(frozen=True)
class Part:
    """One part of a multipart form."""

    name: str | None
    filename: str | None
    content: bytes


def _part(raw: bytes) -> Part:
    head, separator, content = raw.partition(b"\r\n\r\n")
    if raw.startswith(b"\r\n"):  # a part without headers
        head, separator, content = b"", b"\r\n", raw[2:]
    if not separator:
        raise BadRequest("a multipart part has no blank line after its headers")
    name = filename = None
    for line in head.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-disposition":
            parameters = dict(_PARAMETER.findall(value))
            name, filename = parameters.get("name"), parameters.get("filename")
    return Part(name, filename, content)


def parse_multipart(body: bytes) -> list[Part]:
    """The parts of a multipart/form-data body. The boundary is read from the body's
    first line, not from a header; 400 for anything that is not such a body."""
    first, found, _ = body.partition(b"\r\n")
    boundary = first[2:].rstrip(b" \t")
    if not found or not first.startswith(b"--") or not 0 < len(boundary) <= MAX_BOUNDARY:
        raise BadRequest("the body is not a multipart form (it must start with its boundary)")
    delimiter = b"\r\n--" + boundary
    parts: list[Part] = []
    start = len(first) + 2
    while True:
        end = body.find(delimiter, start)
        if end < 0:
            raise BadRequest("the multipart form is cut short (no closing boundary)")
        parts.append(_part(body[start:end]))
        if len(parts) > MAX_FIELDS:
            raise BadRequest(f"a multipart form may have at most {MAX_FIELDS} parts")
        after = end + len(delimiter)
        if body.startswith(b"--", after):
            return parts
        line_end = body.find(b"\r\n", after)
        if line_end < 0 or body[after:line_end].strip(b" \t"):
            raise BadRequest("a multipart boundary is followed by garbage")
        start = line_end + 2


def whole_number(value: Any, name: str, default: int) -> int:
    """A paging number sent as a JSON number or as digits; `default` when absent."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    raise BadRequest(f"{name} must be a whole number, not {value!r}", {name: repr(value)})
