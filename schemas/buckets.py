"""Bodies of Sluice's lease routes in Buckets (`/work/heartbeat`, `/work/heartbeats`,
`/work/release`, `/work/withdraw/batch`, `/work/reports`).

The CHIME client never calls these: they serve workers that hold the lease token
returned in the `X-Sluice-Lease` header of `POST /work/withdraw` (or in the answer of
`POST /work/withdraw/batch`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from schemas.errors import ErrorDetail

#: Response header carrying the lease token of a withdrawn work; PUT /work may send it back.
LEASE_HEADER = "X-Sluice-Lease"
#: Request header of `POST /work/withdraw` ("1"): the caller reports with the lease token,
#: so the server refuses tokenless reports of the run it withdraws.
BIND_HEADER = "X-Sluice-Bind-Lease"


class LeaseRequest(BaseModel):
    """A worker naming the work it holds and the lease token it was given."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: StrictStr = Field(min_length=1, max_length=128)
    lease: StrictStr = Field(min_length=1, max_length=256)


class LeaseStatus(BaseModel):
    """Answer to a heartbeat: when the lease now expires, and whether to stop."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: StrictStr
    expires: float = Field(description="Unix seconds at which the lease lapses.")
    stop: bool = Field(description="True when the run was asked to stop.")


class LeasesRequest(BaseModel):
    """Body of `POST /work/heartbeats`: every lease a worker renews at once (at most
    SLUICE_MAX_BATCH)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    leases: list[LeaseRequest] = Field(min_length=1)


class BatchWithdraw(BaseModel):
    """Body of `POST /work/withdraw/batch`: the filter of `POST /work/withdraw` and how
    many works to claim at most (1 to SLUICE_MAX_BATCH)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    query: dict[str, Any] = Field(description="The filter, as `POST /work/withdraw` takes it.")
    limit: StrictInt = Field(ge=1, description="Most works claimed.")


class ClaimedWork(BaseModel):
    """One work claimed by `POST /work/withdraw/batch`, with the token of its own lease."""

    model_config = ConfigDict(strict=True, extra="forbid")

    work: dict[str, Any]
    lease: StrictStr


class WorkReport(BaseModel):
    """One finished work as `PUT /work` would take it, with the lease token of its run."""

    model_config = ConfigDict(strict=True, extra="forbid")

    work: dict[str, Any] = Field(description="The whole work document, as `PUT /work` takes it.")
    lease: StrictStr = Field(min_length=1, max_length=256)


class ReportsRequest(BaseModel):
    """Body of `POST /work/reports`: reports of works held by one worker (at most
    SLUICE_MAX_BATCH), each judged as `PUT /work` with its lease judges it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    reports: list[WorkReport] = Field(min_length=1)


class ReportOutcome(BaseModel):
    """Per report of `POST /work/reports`: whether it was recorded, else why not (the
    error `PUT /work` would have answered for it alone, e.g. 409 `conflict` once the
    lease is lost)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: StrictStr
    recorded: bool
    error: ErrorDetail | None = None


class RetryRequest(BaseModel):
    """Body of `POST /work/retry`: the failed works to queue again."""

    model_config = ConfigDict(strict=True, extra="forbid")

    ids: list[StrictStr] = Field(min_length=1, description="ids of failed works")
