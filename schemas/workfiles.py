"""Workfiles and their runs: the workflow file format and the wire documents.

A workfile is a YAML or JSON workflow (`WorkflowFile`); running it creates a process
whose steps are Buckets works. `RunReport` is the report of a run, shaped after the
Alpine run report (`flowMetaInfo`, `logs`, `outputs`).
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, model_validator

from schemas.work import PipelineName

OPERATOR_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_ -]{0,127}$"
VARIABLE_PATTERN = r"^@[A-Za-z_][A-Za-z0-9_]{0,127}$"

OperatorName = Annotated[
    str,
    Field(
        pattern=OPERATOR_NAME_PATTERN,
        description="1-128 letters, digits, '_', '-' or spaces (no dots).",
        examples=["Row Filter"],
    ),
]
VariableName = Annotated[
    str, Field(pattern=VARIABLE_PATTERN, description="'@' then an identifier.")
]


def safe_path(path: str) -> str:
    """`path` normalised, if it is relative and stays inside a working directory;
    ValueError otherwise (absolute, through `..`, empty, with backslashes or NUL)."""
    if not path or "\x00" in path or "\\" in path or path.startswith("/"):
        raise ValueError(f"{path!r} must be a relative path inside the working directory")
    normal = posixpath.normpath(path)
    if normal in (".", "..") or normal.startswith("../"):
        raise ValueError(f"{path!r} must be a relative path inside the working directory")
    return normal


#: A file path relative to a step's working directory, confined to it.
OutputPath = Annotated[
    str,
    Field(min_length=1, max_length=512, description="Relative, inside the working directory."),
    AfterValidator(safe_path),
]

#: Coarse state of a run, as `query_status` answers it.
RunState = Literal["WORKING", "FINISHED", "FAILED"]
#: Outcome of a run: RUNNING until it ends.
RunStatus = Literal["RUNNING", "SUCCESS", "FAILURE", "STOPPED"]
StepState = Literal["waiting", "queued", "running", "success", "failure", "cancelled"]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Operator(_Strict):
    """One step of a workflow: a function or a command, run as one Buckets work."""

    name: OperatorName
    function: StrictStr | None = Field(default=None, description="Dotted import path.")
    command: list[StrictStr] | None = Field(default=None, description="argv to run.")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments; '@var' and '$operator.path' values are references.",
    )
    pipeline: PipelineName | None = Field(default=None, description="Default: the workflow's.")
    site: StrictStr | None = Field(default=None, min_length=1, max_length=256)
    depends_on: list[OperatorName] = Field(default_factory=list)
    timeout: int = Field(default=3600, ge=1, le=259_200)
    retries: int = Field(default=2, ge=0, lt=6)
    priority: int = Field(default=3, ge=1, le=5)
    outputs: list[OutputPath] = Field(
        default_factory=list,
        max_length=256,
        description="Files the step writes in its working directory; uploaded when it succeeds.",
    )

    @model_validator(mode="after")
    def _function_or_command(self) -> Operator:
        if bool(self.function) == bool(self.command):
            raise ValueError(f"operator {self.name!r} needs exactly one of function or command")
        return self


class WorkflowFile(_Strict):
    """The content of a workfile."""

    name: StrictStr = Field(min_length=1, max_length=256)
    pipeline: PipelineName | None = Field(default=None, description="Default pipeline of steps.")
    site: StrictStr | None = Field(default=None, min_length=1, max_length=256)
    variables: dict[VariableName, Any] = Field(
        default_factory=dict, description="Declared variables and their default values."
    )
    operators: list[Operator] = Field(min_length=1)


class WorkfileInfo(_Strict):
    """Metadata of a stored workfile (its latest version)."""

    id: StrictStr
    file_name: StrictStr
    file_type: Literal["yaml", "json"]
    workspace: StrictStr
    owner: StrictStr
    workflow_name: StrictStr
    version: int = Field(description="Latest version; 1 for a new file.")
    size: int = Field(description="Bytes of the latest version.")
    created_at: float = Field(description="Unix seconds of the first upload.")
    modified_at: float = Field(description="Unix seconds of the latest upload.")


class WorkfilePage(_Strict):
    """One page of a workspace's workfiles, by name."""

    workfiles: list[WorkfileInfo]
    page: int
    per_page: int
    total: int


class WorkspaceInfo(_Strict):
    """A workspace: a named folder of workfiles."""

    id: StrictStr = Field(description="Derived from the name: one name, one id.")
    name: StrictStr
    summary: StrictStr
    public: bool
    owner: StrictStr
    created_at: float = Field(description="Unix seconds.")


class WorkspacePage(_Strict):
    """One page of the workspaces, by name."""

    workspaces: list[WorkspaceInfo]
    page: int
    per_page: int
    total: int


class RunVariable(_Strict):
    """A variable's value for one run."""

    name: StrictStr = Field(min_length=1, max_length=129, examples=["@row_filter"])
    value: Any = Field(description="Any JSON value; required (null is a value).")


class RunRequest(_Strict):
    """Body of a run: values for declared variables (others keep their defaults)."""

    variables: list[RunVariable] | None = None


class StepFile(_Strict):
    """An output file a step uploaded (download: `GET /workfiles/processes/{pid}/files/{id}`)."""

    path: StrictStr
    id: StrictStr
    size: int


class Step(_Strict):
    """One step of a run as the service sees it."""

    name: StrictStr
    state: StepState
    work_id: StrictStr
    attempt: int
    started_at: float | None
    ended_at: float | None
    error: StrictStr | None
    files: list[StepFile] = Field(default_factory=list, description="Its declared outputs.")


class ProcessInfo(_Strict):
    """A run: its coarse state, its outcome and its steps in dependency order."""

    process_id: StrictStr
    workflow_id: StrictStr
    workflow_name: StrictStr
    version: int = Field(description="Version of the workfile this run executes.")
    state: RunState
    status: RunStatus
    variables: dict[str, Any]
    user: StrictStr
    started_at: float
    ended_at: float | None
    steps: list[Step]


class StopAnswer(_Strict):
    """Answer to a stop: STOPPED (now or before), or STOP FAILED (it had ended)."""

    status: Literal["STOPPED", "STOP FAILED"]
    process_id: StrictStr


class FlowMetaInfo(_Strict):
    """Metadata of a run (camelCase names, as the Alpine report spells them)."""

    workflowId: StrictStr
    workflowName: StrictStr
    processId: StrictStr
    executeUser: StrictStr
    startTime: float
    endTime: float | None
    status: RunStatus
    noOfNodesProcessed: int
    noOfError: int


class FlowLog(_Strict):
    time: float | None
    level: Literal["INFO", "ERROR"]
    operator: StrictStr
    message: StrictStr


class FlowOutput(_Strict):
    out_id: StrictStr
    out_title: StrictStr
    isGenerateReport: bool
    visualType: StrictStr
    visualData: Any
    node_meta_info: dict[str, Any]


class RunReport(_Strict):
    """The report of a run: metadata, one log record per event, one output per operator."""

    flowMetaInfo: FlowMetaInfo
    logs: list[FlowLog]
    outputs: list[FlowOutput]
