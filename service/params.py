"""Query parameters read from requests, with a 400 naming the parameter when bad."""

from __future__ import annotations

from typing import overload

from starlette.requests import Request

from service.errors import BadRequest


@overload
def int_param(request: Request, name: str, default: int) -> int: ...
@overload
def int_param(request: Request, name: str, default: None) -> int | None: ...
def int_param(request: Request, name: str, default: int | None) -> int | None:
    """The whole-number query parameter `name`, or `default` when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {raw!r}", {name: raw}) from None
    if not -(2**63) <= value < 2**63:  # MongoDB takes 64-bit integers at most
        raise BadRequest(f"{name} is out of range: {raw}", {name: raw})
    return value
