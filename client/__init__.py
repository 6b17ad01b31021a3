"""Sluice client: the Results SDK (`Results`, `AsyncResults`), the Buckets SDK
(`Buckets`, `AsyncBuckets`, `new_work`) and their one exception tree.

Names are imported on first use: the worker starts a fresh interpreter per work
(`client.runner`), which must not pay for httpx and pydantic it does not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client.buckets import AsyncBuckets, Buckets
    from client.buckets_protocol import Withdrawn, new_work
    from client.errors import (
        APIError,
        BadRequest,
        Conflict,
        Forbidden,
        NotFound,
        PayloadTooLarge,
        ProtocolError,
        ServerError,
        SluiceError,
        TransportError,
        Unauthorized,
        Unavailable,
        ValidationFailed,
    )
    from client.results import AsyncResults, Results
    from schemas.buckets import LeaseStatus
    from schemas.work import Work

_HOMES = {
    "client.buckets": ("AsyncBuckets", "Buckets"),
    "client.buckets_protocol": ("Withdrawn", "new_work"),
    "client.errors": (
        "APIError", "BadRequest", "Conflict", "Forbidden", "NotFound", "PayloadTooLarge",
        "ProtocolError", "ServerError", "SluiceError", "TransportError", "Unauthorized",
        "Unavailable", "ValidationFailed",
    ),
    "client.results": ("AsyncResults", "Results"),
    "schemas.buckets": ("LeaseStatus",),
    "schemas.work": ("Work",),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "APIError",
    "AsyncBuckets",
    "AsyncResults",
    "BadRequest",
    "Buckets",
    "Conflict",
    "Forbidden",
    "LeaseStatus",
    "NotFound",
    "PayloadTooLarge",
    "ProtocolError",
    "Results",
    "ServerError",
    "SluiceError",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "Withdrawn",
    "Work",
    "new_work",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'client' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
