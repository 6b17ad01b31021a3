"""Leaderboards: the workflow template an admin installs, and the wire documents.

A template (`Template`, YAML or JSON) names a benchmark: typed parameters (flowServ's
keys: `name`, `dtype`, `label`, `help`, `defaultValue`, `isRequired`, `group`, `target`,
`range`, `values`, `index`), parameter groups, `steps` in the workfile format (each a
`command` or a `function`, with declared `outputs`), a result schema read from one of
the outputs, and an optional post-processing step run on the ranking.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from schemas.work import PipelineName
from schemas.workfiles import Operator, OutputPath

ParameterType = Literal["bool", "file", "float", "int", "list", "record", "select", "string"]
ColumnType = Literal["int", "float", "string"]
RunState = Literal["PENDING", "RUNNING", "SUCCESS", "ERROR", "CANCELED"]
#: A parameter, column or group name: an identifier (it becomes a workfile variable).
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Text = Annotated[str, Field(max_length=65_536)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)


class SelectValue(_Strict):
    """One choice of a `select` parameter."""

    name: StrictStr = Field(max_length=256)
    value: Any
    isDefault: StrictBool = False


def check_parts(name: str, dtype: str, values: list[Any] | None, fields: list[Any] | None) -> None:
    """ValueError unless a parameter has what its values are checked against
    (service.leaderboards.arguments): a select its choices, a record its fields."""
    if dtype == "select" and not values:
        raise ValueError(f"select parameter {name!r} needs values")
    if dtype == "record" and not fields:
        raise ValueError(f"record parameter {name!r} needs fields")


class Parameter(_Strict):
    """A typed template parameter; a run gives it a value (or takes `defaultValue`)."""

    name: Identifier
    dtype: ParameterType
    label: StrictStr | None = Field(default=None, max_length=256)
    help: Text | None = None
    defaultValue: Any = None
    isRequired: StrictBool = False
    group: Identifier | None = None
    index: int | None = Field(default=None, ge=0, lt=10_000)
    #: file: where the file is staged in the step's working directory (default: its name).
    target: OutputPath | None = None
    #: int/float: an interval such as `[0,10)`.
    range: StrictStr | None = Field(default=None, max_length=64)
    #: select: the choices.
    values: list[SelectValue] | None = Field(default=None, max_length=1000)
    #: list: the type of each element (default any JSON value).
    items: ParameterType | None = None
    #: record: its fields.
    fields: list[Parameter] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        check_parts(self.name, self.dtype, self.values, self.fields)
        if self.target is not None and self.dtype != "file":
            raise ValueError(f"parameter {self.name!r}: only file parameters have a target")
        if self.range is not None and self.dtype not in ("int", "float"):
            raise ValueError(f"parameter {self.name!r}: only int and float have a range")
        return self


class ParameterGroup(_Strict):
    """A group of parameters, shown together."""

    name: Identifier
    title: StrictStr = Field(max_length=256)
    index: int = Field(default=0, ge=0, lt=10_000)


class Column(_Strict):
    """A result column: read at `path` (dotted, default `name`) in the result file."""

    name: Identifier
    label: StrictStr | None = Field(default=None, max_length=256)
    dtype: ColumnType = "float"
    path: StrictStr | None = Field(default=None, min_length=1, max_length=512)
    required: StrictBool = True


class SortColumn(_Strict):
    """One key of the default ranking order."""

    name: Identifier
    sortDesc: StrictBool = True


class ResultSchema(_Strict):
    """Where a run's results are and how to rank them."""

    file: OutputPath
    schema_: list[Column] = Field(alias="schema", min_length=1, max_length=64)
    orderBy: list[SortColumn] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _known_columns(self) -> ResultSchema:
        names = [column.name for column in self.schema_]
        if len(set(names)) != len(names):
            raise ValueError("result columns must have distinct names")
        for key in self.orderBy:
            if key.name not in names:
                raise ValueError(f"orderBy names unknown column {key.name!r}")
        return self


class PostProcessing(_Strict):
    """Steps run on the ranked runs whenever the default ranking changes."""

    steps: list[Operator] = Field(min_length=1, max_length=64)
    outputs: list[OutputPath] = Field(min_length=1, max_length=256)


class Template(_Strict):
    """A workflow template, as `sluice leaderboard install` uploads it."""

    name: StrictStr = Field(min_length=1, max_length=256)
    description: Text | None = None
    instructions: Text | None = None
    pipeline: PipelineName = Field(
        description="The pipeline every step runs in (and post-processing step): it decides "
        "who may see, install and run the template, so a step naming another is refused."
    )
    site: StrictStr = Field(min_length=1, max_length=256)
    parameters: list[Parameter] = Field(default_factory=list, max_length=256)
    parameterGroups: list[ParameterGroup] = Field(default_factory=list, max_length=64)
    steps: list[Operator] = Field(min_length=1, max_length=64)
    results: ResultSchema | None = None
    postproc: PostProcessing | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        names = [parameter.name for parameter in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError("parameters must have distinct names")
        groups = {group.name for group in self.parameterGroups}
        for parameter in self.parameters:
            if parameter.group is not None and parameter.group not in groups:
                raise ValueError(
                    f"parameter {parameter.name!r} names unknown group {parameter.group!r}"
                )
        for step in [*self.steps, *(self.postproc.steps if self.postproc else [])]:
            if step.pipeline not in (None, self.pipeline):
                raise ValueError(
                    f"step {step.name!r} names pipeline {step.pipeline!r}: a template's steps "
                    f"run in its pipeline ({self.pipeline!r})"
                )
        outputs = {path for step in self.steps for path in step.outputs}
        if self.results is not None and self.results.file not in outputs:
            raise ValueError(f"the result file {self.results.file!r} is no step's output")
        return self


class TemplateInfo(BaseModel):
    """An installed template (what the native routes answer)."""

    id: StrictStr
    name: StrictStr
    description: StrictStr | None = None
    instructions: StrictStr | None = None
    parameters: list[dict[str, Any]]
    parameterGroups: list[dict[str, Any]]
    results: dict[str, Any] | None = None
    postproc: dict[str, Any] | None = None
    created_at: float


class RunArgument(BaseModel):
    """One argument of a run: a parameter name and its value."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(max_length=128)
    value: Any


class StartRun(BaseModel):
    """The body of a native run start."""

    model_config = ConfigDict(extra="forbid")

    group: StrictStr = Field(min_length=1, max_length=128)
    arguments: list[RunArgument] = Field(default_factory=list, max_length=256)


class CancelRun(BaseModel):
    """The body of a cancel."""

    model_config = ConfigDict(extra="forbid")

    reason: StrictStr | None = Field(default=None, max_length=4096)
