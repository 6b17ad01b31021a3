"""Parsing request bodies: the text-only nesting check agrees with a walk of the value,
and a long digit run inside a string is never taken for a wide integer."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.body import _shallow, parse_json
from service.errors import BadRequest

#: Strings that stress the text check: brackets, quotes, escapes and digit runs.
_TEXT = st.text(alphabet='ab[]{}"\\:,0123456789 ', max_size=12)
_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | _TEXT
)  # fmt: skip
_VALUES: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=40,
)  # fmt: skip


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@settings(max_examples=400, deadline=None)
@given(_VALUES, st.integers(1, 8))
def test_the_text_check_never_passes_a_body_nested_too_deep(value: Any, limit: int) -> None:
    body = orjson.dumps(value)
    if _shallow(body, limit):
        assert _depth(value) <= limit


@settings(max_examples=200, deadline=None)
@given(_VALUES, st.integers(1, 8))
def test_parsing_refuses_exactly_the_bodies_nested_too_deep(value: Any, limit: int) -> None:
    body = orjson.dumps(value)
    if _depth(value) > limit:
        with pytest.raises(BadRequest, match="SLUICE_MAX_JSON_DEPTH"):
            parse_json(body, limit)
    else:
        assert parse_json(body, limit) == value


def test_a_deposit_batch_is_judged_by_its_text() -> None:
    batch = [{"results": {"snr": 12.5, "tags": ["a", "b"]}, "id": str(n)} for n in range(100)]
    assert _shallow(orjson.dumps(batch), 4)
    assert not _shallow(orjson.dumps(batch), 3)


@pytest.mark.parametrize(
    "body",
    [
        rb'["12345678901234567890123\"y"]',
        rb'{"k\"12345678901234567890123": 1}',
        rb'["\\", "12345678901234567890123"]',
    ],
)
def test_digits_in_a_string_with_an_escaped_quote_are_not_an_integer(body: bytes) -> None:
    assert parse_json(body) == orjson.loads(body)


@pytest.mark.parametrize(
    "body", [b"[12345678901234567890123]", b'{"a": "\\"", "n": -9223372036854775809}']
)
def test_a_wide_integer_is_refused(body: bytes) -> None:
    with pytest.raises(BadRequest, match="64-bit"):
        parse_json(body)
