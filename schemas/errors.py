"""The error body every Sluice route answers with a 4xx or 5xx status."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    """What went wrong: a stable `code` to branch on, a human `message`, and `details`."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable machine-readable code, e.g. `invalid_query`.")
    message: str = Field(description="Human-readable explanation; may change between versions.")
    details: Any = Field(description="Structured context (limit names, field errors) or null.")


class ErrorBody(BaseModel):
    """`{"error": {"code", "message", "details"}}`; compatibility surfaces whose clients
    read a top-level message (AERO's, flowServ's) repeat it beside `error`, with AERO's
    `code` (the HTTP status)."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail
    code: int | None = Field(default=None, description="The HTTP status again (AERO surface only).")
    message: str | None = Field(
        default=None, description="`error.message` again (AERO and flowServ surfaces only)."
    )
