"""The `Work` document: what the CHIME/FRB `workflow` client sends and expects back.

One model validates deposits and updates in both Buckets and Results; the field order
of `WORK_FIELDS` is the order documents are stored and returned in.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

PIPELINE_PATTERN = r"^[A-Za-z0-9-]{1,128}$"

PipelineName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=PIPELINE_PATTERN,
        description="1-128 characters, each a letter, digit or '-'.",
        examples=["header-localization"],
    ),
]
#: `retries` is below this (the `workflow` client's bound), so `attempt` rarely passes it.
RETRIES_LIMIT = 6
Status = Literal["created", "queued", "running", "success", "failure"]
FinishedStatus = Literal["success", "failure"]
ArchiveStrategy = Literal["bypass", "copy", "delete", "move"]

WORK_FIELDS: tuple[str, ...] = (
    "pipeline", "site", "user", "function", "parameters", "command", "results",
    "products", "plots", "tags", "event", "id", "creation", "start", "stop", "attempt",
    "status", "timeout", "retries", "priority", "config", "notify",
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class Archive(_Strict):
    """What happens to a work's outputs once it is finished."""

    results: bool = True
    products: ArchiveStrategy = "copy"
    plots: ArchiveStrategy = "copy"
    logs: ArchiveStrategy = "move"


class StepFileList(_Strict):
    """The files a workfile step moves (service.workfiles.stepfiles): the paths staged
    into its working directory before it runs, and its declared outputs."""

    inputs: list[StrictStr] = Field(default_factory=list)
    outputs: list[StrictStr] = Field(default_factory=list)


class Config(_Strict):
    """Lifecycle configuration of a work."""

    archive: Archive = Field(default_factory=Archive)
    metrics: bool = False
    parent: str | None = None
    orgs: list[StrictStr] = Field(default_factory=lambda: ["chimefrb"])
    teams: list[StrictStr] | None = None
    #: Set by workfile runs on their steps; absent on other works.
    files: StepFileList | None = None


class Slack(BaseModel):
    """Slack notification settings; the client rejects unknown keys, so do we."""

    model_config = ConfigDict(strict=True, extra="forbid")

    channel_id: StrictStr | None = None
    member_ids: list[StrictStr] | None = None
    message: StrictStr | None = None
    results: bool | None = None
    products: bool | None = None
    plots: bool | None = None
    blocks: dict[str, Any] | None = None
    reply: dict[str, Any] | None = None


class Notify(_Strict):
    """Notifications for a work."""

    slack: Slack = Field(default_factory=Slack)


class Work(_Strict):
    """A unit of pipeline work, queued in Buckets and archived in Results."""

    pipeline: PipelineName
    site: StrictStr = Field(min_length=1, max_length=256)
    user: StrictStr = Field(min_length=1, max_length=256)
    function: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    command: list[StrictStr] | None = None
    results: dict[str, Any] | None = None
    products: list[StrictStr] | None = None
    plots: list[StrictStr] | None = None
    tags: list[StrictStr] | None = None
    event: list[int] | None = None
    id: StrictStr | None = Field(default=None, min_length=1, max_length=128)
    creation: float | None = None
    start: float | None = None
    stop: float | None = None
    attempt: int = Field(default=0, ge=0)
    status: Status = "created"
    timeout: int = Field(default=3600, ge=1, le=259_200)
    retries: int = Field(default=2, ge=0, lt=RETRIES_LIMIT)
    priority: int = Field(default=3, ge=1, le=5)
    config: Config = Field(default_factory=Config)
    notify: Notify = Field(default_factory=Notify)

    @model_validator(mode="after")
    def _function_or_command(self) -> Work:
        if self.function and self.command:
            raise ValueError("only one of function or command may be set")
        return self


class FinishedWork(Work):
    """A work as Results stores it: finished, with status success or failure."""

    status: FinishedStatus


class ViewRequest(BaseModel):
    """Body of `POST /view`: a filter, a projection and a page."""

    model_config = ConfigDict(strict=True, extra="ignore")

    query: dict[str, Any] = Field(default_factory=dict)
    projection: dict[str, Any] | None = None
    skip: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, ge=0)


class CountRequest(BaseModel):
    """Body of `POST /view/count`."""

    model_config = ConfigDict(strict=True, extra="ignore")

    query: dict[str, Any] = Field(default_factory=dict)
