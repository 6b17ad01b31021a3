"""Sluice client: the Results SDK (`Results`, `AsyncResults`), the Buckets SDK
(`Buckets`, `AsyncBuckets`, `new_work`), workfiles and runs (`Workfile`) and their one
exception tree.

Names are imported on first use: the worker's child processes (`sluice.worker.pool`)
import this package and must not pay for httpx and pydantic they do not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.buckets import LeaseStatus
    from schemas.work import Work
    from sluice.admin import Admin, AsyncAdmin
    from sluice.buckets import AsyncBuckets, Buckets
    from sluice.errors import (
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
    from sluice.leaderboards import AsyncLeaderboards, Leaderboards
    from sluice.plans.buckets import Withdrawn, new_work
    from sluice.results import AsyncResults, Results
    from sluice.workfile import Workfile

_HOMES = {
    "sluice.admin": ("Admin", "AsyncAdmin"),
    "sluice.buckets": ("AsyncBuckets", "Buckets"),
    "sluice.plans.buckets": ("Withdrawn", "new_work"),
    "sluice.errors": (
        "APIError", "BadRequest", "Conflict", "Forbidden", "NotFound", "PayloadTooLarge",
        "ProtocolError", "ServerError", "SluiceError", "TransportError", "Unauthorized",
        "Unavailable", "ValidationFailed", "FlowResultsMalformed", "ResultsNotFound",
        "RunFlowFailure", "RunFlowTimeout", "StopFlowFailure", "WorkfileNotFound",
        "WorkflowVariable", "RateLimited",
    ),
    "sluice.leaderboards": ("AsyncLeaderboards", "Leaderboards"),
    "sluice.results": ("AsyncResults", "Results"),
    "sluice.workfile": ("Workfile",),
    "schemas.buckets": ("LeaseStatus",),
    "schemas.work": ("Work",),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "APIError",
    "Admin",
    "AsyncAdmin",
    "AsyncBuckets",
    "AsyncLeaderboards",
    "AsyncResults",
    "BadRequest",
    "Buckets",
    "Conflict",
    "FlowResultsMalformed",
    "Forbidden",
    "Leaderboards",
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
        raise AttributeError(f"module 'sluice' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
