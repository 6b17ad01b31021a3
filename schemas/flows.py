"""Flows over versioned data (AERO): what registering a flow takes.

A flow runs a registered function (a dotted import path) over named input sources,
each either the latest version or one pinned version, and commits what it returns to
its named output sources. Its policy says when it runs: NONE (only when asked), TIMER
(on a schedule, with the latest inputs), INGESTION (on a schedule, fetching its output
source's URL), INGESTION_EVENT (the same fetch, once per notice: `POST
/aero/data/{id}/notify`), ANY (when any unpinned input has a version the flow has not consumed)
or ALL (when every one has).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from schemas.work import PipelineName

#: Policies by name, and AERO's integers for them (`rule` on the AERO surface).
POLICIES: dict[str, int] = {
    "NONE": -1, "INGESTION": 0, "TIMER": 1, "ANY": 2, "ALL": 3, "INGESTION_EVENT": 4
}  # fmt: skip
Policy = Literal["NONE", "INGESTION", "TIMER", "ANY", "ALL", "INGESTION_EVENT"]
#: A flow's life: paused flows do not fire; deleted flows are kept for provenance.
FlowState = Literal["active", "paused", "deleted"]
#: An AERO run's life.
RunStatus = Literal["queued", "running", "committed", "unchanged", "failed"]

Identifier = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="A Python identifier: the keyword the function receives.",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class FlowInput(_Strict):
    """One input: a source, at its latest version (`version` null) or pinned."""

    data_id: StrictStr = Field(min_length=1, max_length=128)
    version: StrictInt | None = Field(default=None, ge=1)
    fetch: StrictBool = True


class FlowOutput(_Strict):
    """One output: an existing source (`data_id`), or a new one named after the output
    (or `name`); an ingestion's output may carry the `url` it fetches."""

    data_id: StrictStr | None = Field(default=None, min_length=1, max_length=128)
    name: StrictStr | None = Field(default=None, min_length=1, max_length=256)
    url: StrictStr | None = Field(default=None, min_length=1, max_length=2048)
    description: StrictStr | None = Field(default=None, max_length=4096)


class FlowRequest(_Strict):
    """`POST /aero/flows`: register a flow."""

    function_id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="A registered function; an INGESTION flow needs none (given, it is "
        "the transform of what it fetches).",
    )
    inputs: dict[Identifier, FlowInput] = Field(default_factory=dict, max_length=64)
    outputs: dict[Identifier, FlowOutput] = Field(default_factory=dict, max_length=64)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    tasks: list[dict[str, Any]] | None = Field(
        default=None,
        min_length=1,
        description="Instead of kwargs: one kwargs object per task, each run one work per "
        "task (at most SLUICE_AERO_MAX_TASKS).",
    )
    description: StrictStr | None = Field(default=None, max_length=4096)
    policy: Policy | StrictInt = "NONE"
    timer: StrictInt | None = Field(default=None, ge=1)
    site: StrictStr = Field(default="default", min_length=1, max_length=256)
    pipeline: PipelineName | None = Field(
        default=None, description="Pipeline of its runs' works (aero-analysis, aero-ingest)."
    )
    pull_function_id: StrictStr | None = Field(default=None, max_length=128)
    commit_function_id: StrictStr | None = Field(default=None, max_length=128)
    timeout: StrictInt | None = Field(default=None, ge=1, le=259_200)
    retries: StrictInt | None = Field(default=None, ge=0, lt=6)


class FlowChange(_Strict):
    """`PATCH /aero/flows/{id}`: pause or resume, change the timer or description."""

    state: Literal["active", "paused"] | None = None
    timer: StrictInt | None = Field(default=None, ge=1)
    description: StrictStr | None = Field(default=None, max_length=4096)


class RunCommit(_Strict):
    """`POST /aero/runs/{id}/commit`: the package version the worker ran (or, at
    `/fail`, `error`: why the run cannot run)."""

    function_version: StrictStr | None = Field(default=None, max_length=256)
    distribution: StrictStr | None = Field(default=None, max_length=256)
    error: StrictStr | None = Field(default=None, max_length=65536)


class RunRequest(_Strict):
    """`POST /aero/flows/{id}/runs` (the body is optional): run a flow now."""

    force: StrictBool = Field(
        default=False,
        description="An ingestion only: fetch unconditionally and commit (transform) even "
        "if the upstream did not change; a version only if the bytes stored differ.",
    )


class Notice(_Strict):
    """`POST /aero/data/{id}/notify`: the upstream of a source changed (every field
    optional, recorded on the run it queues; the fetch is the source's own URL, with
    its conditional GET)."""

    etag: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="The upstream's new ETag, if known.",
    )
    size: StrictInt | None = Field(default=None, ge=0, description="Its size in bytes.")
    url: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="The URL that changed: the source's own.",
    )


class _Entry(BaseModel):
    # AERO's blocks carry keys Sluice does not read (collection_url, file_bn of inputs,
    # tmpdir, download, start/end/duration, the worker's created_at...): ignored.
    model_config = ConfigDict(strict=True, extra="ignore")


class ProvInput(_Entry):
    """One input of `POST /prov/new`: the exact version the run read."""

    id: StrictStr | None = Field(default=None, min_length=1, max_length=128)
    version: StrictInt | None = Field(default=None, ge=1)


class ProvOutput(_Entry):
    """One output of `POST /prov/new`: a reference-only version (`file_bn` its file
    name, compared with the latest by `checksum`)."""

    id: StrictStr = Field(min_length=1, max_length=128)
    checksum: StrictStr = Field(min_length=1, max_length=256)
    size: StrictInt = Field(ge=0)
    file_bn: StrictStr = Field(min_length=1, max_length=1024)
    file_format: StrictStr | list[StrictStr | None] | None = Field(
        default=None, description="A MIME type, or the mimetypes [type, encoding] pair."
    )
    encoding: StrictStr | None = Field(default=None, max_length=64)
    source_key: StrictStr | None = Field(
        default=None,
        max_length=2048,
        description="Which object of its upstream the "
        "version is (the AERO fork's): recorded on the version as given.",
    )
    dedup: StrictBool | None = Field(
        default=None,
        description="Taken and ignored: the version is compared with the "
        "latest by its checksum whatever it says.",
    )


class ProvNew(_Strict):
    """`POST /prov/new`: the `aero` block of a run committed by an AERO worker."""

    input_data: dict[StrictStr, ProvInput] = Field(default_factory=dict, max_length=64)
    output_data: dict[StrictStr, ProvOutput] = Field(default_factory=dict, max_length=64)
    flow_id: StrictStr = Field(min_length=1, max_length=128)
