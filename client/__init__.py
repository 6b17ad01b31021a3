"""Sluice client: the Results SDK (`Results`, `AsyncResults`), the Buckets SDK
(`Buckets`, `AsyncBuckets`, `new_work`), workfiles and runs (`Workfile`) and their one
exception tree.

Names are imported on first use: the worker starts a fresh interpreter per work
(`client.runner`), which must not pay for httpx and pydantic it does not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client.admin import Admin, AsyncAdmin
    from client.buckets import AsyncBuckets, Buckets
    from client.buckets_protocol import Withdrawn, new_work
    from client.errors import (
        APIError,
        BadRequest,
        Conflict,
        FlowResultsMalformed,
        Forbidden,
        NotFound,
        PayloadTooLarge,
        ProtocolError,
        RateLimited,
        ResultsNotFound,
        RunFlowFailure,
        RunFlowTimeout,
        ServerError,
        SluiceError,
        StopFlowFailure,
        TransportError,
        Unauthorized,
        Unavailable,
        ValidationFailed,
        WorkfileNotFound,
        WorkflowVariable,
    )
    from client.results import AsyncResults, Results
    from client.workfile import Workfile
    from schemas.buckets import LeaseStatus
    from schemas.work import Work

_HOMES = {
    "client.admin": ("Admin", "AsyncAdmin"),
    "client.buckets": ("AsyncBuckets", "Buckets"),
    "client.buckets_protocol": ("Withdrawn", "new_work"),
    "client.errors": (
        "APIError", "BadRequest", "Conflict", "Forbidden", "NotFound", "PayloadTooLarge",
        "ProtocolError", "ServerError", "SluiceError", "TransportError", "Unauthorized",
        "Unavailable", "ValidationFailed", "FlowResultsMalformed", "ResultsNotFound",
        "RunFlowFailure", "RunFlowTimeout", "StopFlowFailure", "WorkfileNotFound",
        "WorkflowVariable", "RateLimited",
    ),
    "client.results": ("AsyncResults", "Results"),
    "client.workfile": ("Workfile",),
    "schemas.buckets": ("LeaseStatus",),
    "schemas.work": ("Work",),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "APIError",
    "Admin",
    "AsyncAdmin",
    "AsyncBuckets",
    "AsyncResults",
    "BadRequest",
    "Buckets",
    "Conflict",
    "FlowResultsMalformed",
    "Forbidden",
    "LeaseStatus",
    "NotFound",
    "PayloadTooLarge",
    "ProtocolError",
    "RateLimited",
    "Results",
    "ResultsNotFound",
    "RunFlowFailure",
    "RunFlowTimeout",
    "ServerError",
    "SluiceError",
    "StopFlowFailure",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "Withdrawn",
    "Work",
    "Workfile",
    "WorkfileNotFound",
    "WorkflowVariable",
    "new_work",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'client' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
