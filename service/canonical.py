"""Type-exact comparison of documents, wherever Sluice decides that nothing changed.

Python's `==` says `1 == True == 1.0` and `0 == False`, so a check built on it lets a
client rewrite a locked result or squat a deposit by changing a value's type only.
Two values are the same here when their canonical BSON encodings are equal: every
object's keys sorted (MongoDB treats key order as significant, JSON clients do not),
then encoded, so a boolean, an integer and a float never compare equal.
"""

from __future__ import annotations

import hashlib
from typing import Any

import bson


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted(item) for item in value]
    return value


def encode(value: Any) -> bytes:
    """The canonical BSON encoding of `value` (a document, list or scalar)."""
    return bson.encode({"v": _sorted(value)})


def same(first: Any, second: Any) -> bool:
    """Whether `first` and `second` are the same value, types included."""
    return encode(first) == encode(second)


def fingerprint(value: Any) -> str:
    """A SHA-256 hex digest of the canonical encoding: equal exactly when `same`."""
    return hashlib.sha256(encode(value)).hexdigest()
