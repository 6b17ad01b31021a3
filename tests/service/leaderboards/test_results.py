"""Result values cast to their column's type: what ranks, and what leaves a run unranked
(a ResultError names why) instead of failing to store."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from service.leaderboards.results import INT_MAX, ResultError, cast, read


@pytest.mark.parametrize(
    ("dtype", "value", "expected"),
    [
        ("int", 12, 12),
        ("int", "12", 12),
        ("int", 3.0, 3),
        ("int", str(INT_MAX), INT_MAX),
        ("int", -INT_MAX, -INT_MAX),
        ("float", "1.5", 1.5),
        ("float", 2, 2.0),
        ("string", 7, "7"),
    ],
)
def test_values_that_cast(dtype: str, value: Any, expected: Any) -> None:
    got = cast(dtype, value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("dtype", "value"),
    [
        ("int", True),
        ("int", 1.5),
        ("int", "x"),
        # Past a 64-bit integer, or its negation (the descending sort key): no BSON int.
        ("int", "99999999999999999999"),
        ("int", -(2**63)),
        ("int", 1e300),
        ("float", "nan"),
        ("float", float("inf")),
        ("string", [1]),
    ],
)
def test_values_that_do_not_cast(dtype: str, value: Any) -> None:
    with pytest.raises(ValueError):
        cast(dtype, value)


def test_a_result_that_does_not_cast_is_a_result_error() -> None:
    schema = [{"name": "big", "path": "big", "dtype": "int", "required": False}]
    assert read(orjson.dumps({"big": "12"}), schema) == {"big": 12}
    with pytest.raises(ResultError, match="'big' \\(int\\) cannot hold"):
        read(orjson.dumps({"big": "9" * 20}), schema)
