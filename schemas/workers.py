"""Sluice workers' registry (`/buckets/workers`): who is alive, where, doing what.

A worker sends a `WorkerBeat` when it starts and then every `beat` seconds the answer
names; a worker not heard from for SLUICE_WORKER_STALE seconds is no longer listed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from schemas.work import PipelineName

#: Most pipelines one worker may serve.
MAX_PIPELINES = 100


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class CurrentWork(_Strict):
    """The work a worker is running."""

    id: StrictStr = Field(min_length=1, max_length=128)
    pipeline: PipelineName
    attempt: int = Field(ge=0)
    started: float = Field(description="Unix seconds at which the worker started it.")


class WorkerBeat(_Strict):
    """What a worker says about itself at start and at every beat."""

    name: StrictStr = Field(min_length=1, max_length=128)
    host: StrictStr = Field(min_length=1, max_length=255)
    pid: int = Field(ge=0)
    pipelines: list[PipelineName] = Field(min_length=1, max_length=MAX_PIPELINES)
    site: StrictStr | None = Field(default=None, max_length=128)
    version: StrictStr = Field(max_length=64)
    current: CurrentWork | None = None


class WorkerInfo(WorkerBeat):
    """A live worker as the registry lists it."""

    id: StrictStr
    registered: float = Field(description="Unix seconds of its first beat.")
    seen: float = Field(description="Unix seconds of its last beat.")


class BeatAnswer(_Strict):
    """Answer to a beat: when to send the next one."""

    id: StrictStr
    beat: float = Field(description="Seconds until the next beat is due.")
