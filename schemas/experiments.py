"""Wire models of experiments, their files, extensions and tasks (after Aqueduct).

Times are ISO 8601 UTC strings on the wire. Limits that are part of the contract
(title, description, tag shape and count, page size) are constants here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

TITLE_MAX = 256
DESCRIPTION_MAX = 5000
TAG_PATTERN = r"^[A-Za-z0-9\-_:/]+$"
TAG_MAX = 64
TAGS_PER_EXPERIMENT = 64
PAGE_MAX = 500
EID_PATTERN = r"^\d{8}-[1-9]\d*$"

Tag = Annotated[StrictStr, Field(min_length=1, max_length=TAG_MAX, pattern=TAG_PATTERN)]
TaskStatus = Literal["PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "REVOKED"]
ACTIVE_STATUSES: tuple[TaskStatus, ...] = ("PENDING", "RECEIVED", "STARTED")
ParameterType = Literal["str", "textarea", "int", "float", "bool", "select", "experiment", "file"]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewExperiment(_Request):
    """Body of `POST /experiments`."""

    title: StrictStr = Field(max_length=TITLE_MAX)
    description: StrictStr = Field(default="", max_length=DESCRIPTION_MAX)


class ExperimentChange(_Request):
    """Body of `PATCH /experiments/{ref}`: the fields to set."""

    title: StrictStr | None = Field(default=None, max_length=TITLE_MAX)
    description: StrictStr | None = Field(default=None, max_length=DESCRIPTION_MAX)


class TagsRequest(_Request):
    """Body of `POST /experiments/{ref}/tags`."""

    tags: list[Tag] = Field(min_length=1, max_length=TAGS_PER_EXPERIMENT)


class FileInfo(_Answer):
    """One file of an experiment."""

    name: str
    size: int
    modified_at: datetime
    checksum: str = Field(description="sha256:<hex digest> of the content.")


class Experiment(_Answer):
    """An experiment record."""

    uuid: str
    eid: str = Field(description="YYYYMMDD-N: UTC day of creation, N-th of that day.")
    title: str
    description: str
    tags: list[str] = Field(
        description="Each with the spelling it was first created with; matched case-insensitively."
    )
    files: list[FileInfo]
    created_at: datetime
    updated_at: datetime


class ExperimentPage(_Answer):
    """Answer of `GET /experiments`: one page, newest first, and the total."""

    experiments: list[Experiment]
    total: int


class TagCount(_Answer):
    """A tag and how many experiments carry it."""

    tag: str
    count: int


class RemovedFiles(_Answer):
    """Answer of a file removal: the names removed."""

    removed: list[str]


#: Work parameter in which a task names the experiment files its worker downloads into
#: the command's working directory first: JSON `{variable: {"experiment", "file"}}`.
STAGE_PARAMETER = "SLUICE_STAGE_FILES"
#: Parameter of a withdrawn work (only in the withdraw answer to Sluice's own worker,
#: never stored) holding JSON `{variable: value}` the command gets besides its
#: parameters: an extension task's SLUICE_TOKEN and SLUICE_URL. The worker takes it out
#: of the work before anything else, so it is never reported back.
GRANT_PARAMETER = "SLUICE_TASK_GRANT"


class Parameter(BaseModel):
    """A typed parameter of an extension action (a manifest entry)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    display_name: StrictStr | None = None
    description: StrictStr = ""
    data_type: ParameterType
    default_value: Any = None
    options: list[StrictStr] | None = None


class Action(BaseModel):
    """An action of an extension: a command run with its parameters in the environment."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=128)
    description: StrictStr = ""
    experiment_variable_name: StrictStr | None = Field(
        default=None,
        description="The `experiment` parameter naming the task's experiment (its log "
        "is saved there; `file` parameters name files of it).",
    )
    command: list[StrictStr] = Field(min_length=1, description="argv; one item: a shell line")
    timeout: int = Field(default=3600, ge=1, le=259_200)
    parameters: list[Parameter] = Field(default_factory=list)
    token: StrictBool = Field(
        default=False,
        description="Give the command SLUICE_URL and SLUICE_TOKEN: a short-lived token "
        "that can only read the task's experiment and its files and upload files to it.",
    )


class Extension(BaseModel):
    """An extension, as declared by one manifest file."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\- ]+$")
    description: StrictStr = ""
    authors: StrictStr = ""
    pipeline: StrictStr = Field(default="extensions", pattern=r"^[A-Za-z0-9-]{1,128}$")
    site: StrictStr = Field(default="local", min_length=1, max_length=256)
    actions: list[Action] = Field(min_length=1)


class InvalidManifest(_Answer):
    """A manifest file that could not be read as an extension."""

    file: str
    error: str


class ExtensionList(_Answer):
    """Answer of `GET /extensions`: valid extensions and the manifests that are not."""

    extensions: list[Extension]
    invalid: list[InvalidManifest]


class ExecuteRequest(_Request):
    """Body of `POST /extensions/{extension}/{action}`."""

    parameters: dict[str, Any] = Field(default_factory=dict)


class Task(_Answer):
    """A run of an extension action, tracked on its own record."""

    task_id: str
    extension_name: str
    action_name: str
    experiment_uuid: str | None
    experiment_eid: str | None
    parameters: dict[str, Any]
    username: str
    status: TaskStatus
    result_code: int | None
    stdout: str
    stderr: str
    created_at: datetime
    ended_at: datetime | None


class TaskPage(_Answer):
    """Answer of `GET /tasks`: one page, newest first, and the total."""

    tasks: list[Task]
    total: int
