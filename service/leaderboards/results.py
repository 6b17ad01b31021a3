"""A successful run's result file read against its template's result schema.

The result file is a JSON object; each schema column is read at its `path` (dotted
keys) and cast to its `dtype`: `int` (an integer, an integral number, or a string of
one), `float` (a finite number or a string of one), `string` (a string, or a number
written out). A missing value (absent or null) of an optional column is left out; of
a required column, or a value that does not cast, the run's result is invalid and a
message on the run says why: the run is never ranked then, and never silently.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from service.db import Document


class ResultError(Exception):
    """Why a run's result cannot be ranked."""


def _at(document: Any, path: str) -> Any:
    found = document
    for key in path.split("."):
        if not isinstance(found, dict):
            return None
        found = found.get(key)
    return found


#: The largest int a result may hold: stored as a 64-bit integer, and negated for a
#: descending sort key (so -2**63 is out too).
INT_MAX = 2**63 - 1


def cast(dtype: str, value: Any) -> int | float | str:
    """`value` as a `dtype` value; ValueError if it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean")
    if dtype == "int":
        if isinstance(value, int):
            whole = value
        elif isinstance(value, float) and value.is_integer():
            whole = int(value)
        elif isinstance(value, str):
            whole = int(value.strip())
        else:
            raise ValueError(f"{value!r} is not an integer")
        if abs(whole) > INT_MAX:
            raise ValueError(f"{value!r} is outside ±{INT_MAX} (a 64-bit integer's range)")
        return whole
    if dtype == "float":
        number = float(value) if isinstance(value, int | float | str) else math.nan
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"{type(value).__name__} is not a string")


def read(content: bytes, schema: list[Document]) -> dict[str, Any]:
    """The run's values by column name from result file `content`; ResultError."""
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise ResultError(f"the result file is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ResultError("the result file does not hold a JSON object")
    values: dict[str, Any] = {}
    for column in schema:
        raw = _at(document, column["path"])
        if raw is None:
            if column["required"]:
                raise ResultError(f"the result has no value for required column {column['name']!r}")
            continue
        try:
            values[column["name"]] = cast(column["dtype"], raw)
        except ValueError as exc:
            raise ResultError(
                f"column {column['name']!r} ({column['dtype']}) cannot hold {str(exc)[:200]}"
            ) from None
    return values
