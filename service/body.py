"""Reading request bodies: bounded in size, parsed as JSON."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from starlette.requests import Request

from service.errors import BadRequest, MalformedJSON, bytes_too_large
from service.settings import Settings
from service.stores import stores


async def read_body(
    request: Request, max_bytes: int, setting: str = "SLUICE_MAX_BODY_BYTES"
) -> bytes:
    """The request body, refusing more than `max_bytes` (the limit `setting` names)
    before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > max_bytes:
            raise bytes_too_large("request body", setting, max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise bytes_too_large("request body", setting, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(
    request: Request, max_bytes: int, max_depth: int, optional: bool = False
) -> Any:
    """The request body parsed as JSON; 400 if it is not JSON, nests deeper than
    `max_depth` or cannot be stored; 413 if too large. With `optional`, no body (or
    only whitespace) is `{}`."""
    body = await read_body(request, max_bytes)
    if optional and (not body or body.isspace()):  # no copy of a large body
        return {}
    if len(body) > INLINE_PARSE_BYTES:
        # Off the event loop: a large body's walk would stall every other request.
        return await asyncio.to_thread(parse_json, body, max_depth)
    return parse_json(body, max_depth)


#: Bodies larger than this are parsed and checked in a worker thread.
INLINE_PARSE_BYTES = 256 * 1024


def parse_json(body: bytes, max_depth: int = Settings.max_json_depth) -> Any:
    """`body` (already read, within its limit) parsed as JSON; 400 if it is not JSON,
    nests deeper than `max_depth` (SLUICE_MAX_JSON_DEPTH) or cannot be stored."""
    if not body.strip():
        raise MalformedJSON("request body is empty; expected JSON")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"request body is not valid JSON: {exc}") from None
    # Only bodies whose text could hold a NUL or a 19+ digit number need their scalars
    # checked; the nesting is checked by a walk only when the text cannot show it is
    # within bounds (the BSON encoder fails near 1,000 levels).
    long_number = _LONG_NUMBER in body.translate(_DIGITS_AS_ZERO)
    if long_number:
        _refuse_wide_integers(body)
    scalars = b"\\u0000" in body or long_number
    if scalars or not _shallow(body, max_depth):
        check_storable(value, max_depth, scalars)
    return value


#: BSON integers are signed 64-bit; JSON parsing yields Python ints up to 2**64 - 1.
_INT64 = range(-(2**63), 2**63)
#: Every digit made a "0", so one substring search finds a run of 19 digits (a regular
#: expression for that retries at every digit of every number: ten times slower).
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_NUMBER = b"0" * 19
#: Every byte but brackets and quotes, deleted to leave a JSON text's skeleton, where
#: braces become brackets (a parsed text's pairs match, so their kind tells nothing).
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'[]{}"')
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")

#: Strings, and integer literals (digits not part of a fraction or an exponent).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_INTEGER = re.compile(rb"(?<![0-9.eE])-?[0-9]{19,}(?![0-9.eE])")


def _shallow(body: bytes, max_depth: int) -> bool:
    """Whether the text of parsed JSON `body` shows it nests at most `max_depth` deep;
    False when it cannot tell (then a walk of the value decides).

    Deleting all but brackets and quotes, then every `""` (a string holding no bracket),
    leaves only the containers' brackets when no string held one; removing the innermost
    pairs then takes as many rounds as the deepest nesting. All in C: a
    tenth of a walk's time on a deposit batch. An escaped quote could pair wrongly, so a
    body holding one is not judged here.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return True
    if b'\\"' in body:
        return False
    skeleton = body.translate(_BRACES_AS_BRACKETS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in skeleton:
        return False  # a string holds a bracket
    for _ in range(max_depth):
        if not skeleton:
            return True
        skeleton = skeleton.replace(b"[]", b"")
    return not skeleton


def _refuse_wide_integers(body: bytes) -> None:
    """400 for an integer literal outside the signed 64-bit range: the parser would
    have made it a float, silently changing the value."""
    for found in _INTEGER.finditer(_STRING.sub(b'""', body)):
        literal = found.group().decode()
        if len(literal.lstrip("-")) > 19 or int(literal) not in _INT64:
            shown = literal if len(literal) <= 40 else literal[:40] + "..."
            raise BadRequest(
                f"body: integer {shown} is outside the signed 64-bit range", {"key": "body"}
            )


#: Where a value sits: (parent's place, key or index), None for the whole body.
_Place = tuple[Any, str | int] | None


def _path(place: _Place) -> str:
    parts: list[str] = []
    while place is not None:
        place, key = place
        parts.append(str(key).replace("\x00", "?"))
    return ".".join(["body", *reversed(parts)])


def check_storable(value: Any, max_depth: int, scalars: bool = True) -> None:
    """400 for JSON that MongoDB cannot hold: nesting deeper than `max_depth`, and
    (with `scalars`) a key with a NUL character (BSON keys are NUL-terminated) or an
    integer outside the signed 64-bit range (never turned into a float)."""
    # Iterative: a body may nest deeper than Python's recursion limit.
    pending: list[tuple[Any, int, _Place]] = [(value, 1, None)]
    while pending:
        item, depth, place = pending.pop()
        if isinstance(item, dict | list) and depth > max_depth:
            raise BadRequest(
                f"{_path(place)}: nested deeper than SLUICE_MAX_JSON_DEPTH ({max_depth})",
                {"key": _path(place), "limit": "SLUICE_MAX_JSON_DEPTH"},
            )
        if isinstance(item, dict):
            for key, child in item.items():
                if scalars and "\x00" in key:
                    raise BadRequest(
                        f"{_path((place, key))}: a key contains a NUL character, which "
                        "cannot be stored",
                        {"key": _path((place, key))},
                    )
                if scalars or isinstance(child, dict | list):
                    pending.append((child, depth + 1, (place, key)))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                if scalars or isinstance(child, dict | list):
                    pending.append((child, depth + 1, (place, index)))
        elif isinstance(item, int) and not isinstance(item, bool) and item not in _INT64:
            raise BadRequest(
                f"{_path(place)}: integer {item} is outside the signed 64-bit range",
                {"key": _path(place)},
            )


async def request_json(request: Request, optional: bool = False) -> Any:
    """The request body as JSON, bounded by the app's SLUICE_MAX_BODY_BYTES (with
    `optional`, no body is `{}`)."""
    settings = stores(request).settings
    return await read_json(request, settings.max_body_bytes, settings.max_json_depth, optional)
