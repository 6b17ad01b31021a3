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


def whole_number(raw: str, name: str, minimum: int = 0, maximum: int = 2**63 - 1) -> int:
    """`raw` (a path or query value) as a whole number from `minimum` to `maximum`; 400
    naming `name` otherwise. Only ASCII digits count: `str.isdigit` also accepts digits
    such as "²" that `int` refuses."""
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= maximum:
        raise BadRequest(
            f"{name} must be a whole number from {minimum} to {maximum}, not {raw!r}", {name: raw}
        )
    return int(raw)


def page_skip(page: int, per_page: int, cap: int) -> int:
    """The rows before page `page` (from 1) of `per_page` rows; 400 unless page >= 1 and
    per_page is 1-`cap` (SLUICE_MAX_VIEW_RESULTS)."""
    skip = (page - 1) * per_page
    if page < 1 or not 1 <= per_page <= cap or skip >= 2**63:  # MongoDB's skip is 64-bit
        raise BadRequest(
            f"page must be at least 1 and per_page 1-{cap} (SLUICE_MAX_VIEW_RESULTS)",
            {"page": page, "per_page": per_page},
        )
    return skip
