"""Bodies of the leaderboard group routes (native `/leaderboards/...` and the flowServ
surface): a group of a workflow, its members and extra parameters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from schemas.leaderboards import SelectValue, check_parts

#: Most members, extra parameters and characters of a group name.
MAX_MEMBERS = 100
MAX_GROUP_PARAMETERS = 100
MAX_GROUP_NAME = 255
#: Parameter types a group's extra parameter may have (those of flowServ).
PARAMETER_TYPES = ("bool", "file", "float", "int", "list", "record", "select", "string", "actor")


class GroupParameter(BaseModel):
    """An extra parameter of a group, in the flowServ form: `dtype`, `name`, `index`,
    `isRequired`, and optionally `label`, `help`, `defaultValue`, `group`, `target`
    (file), `range` (int, float), `values` (select) and `fields` (record)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=255)
    dtype: StrictStr = Field(pattern="^(" + "|".join(PARAMETER_TYPES) + ")$")
    index: int = Field(default=0, ge=0, lt=10_000)
    isRequired: bool = False
    label: StrictStr | None = Field(default=None, max_length=256)
    help: StrictStr | None = Field(default=None, max_length=65_536)
    defaultValue: Any = None
    group: StrictStr | None = Field(default=None, max_length=255)
    target: StrictStr | None = Field(default=None, max_length=1024)
    range: StrictStr | None = Field(default=None, max_length=64)
    #: select: its choices, as a template's (`{"name", "value", "isDefault"}` each).
    values: list[SelectValue] | None = Field(default=None, max_length=1000)
    #: record: its fields, each a parameter of the same form.
    fields: list[GroupParameter] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> GroupParameter:
        check_parts(self.name, self.dtype, self.values, self.fields)
        return self


class GroupRequest(BaseModel):
    """A new group of a workflow (the flowServ `create_group` body; `id` is ignored:
    Sluice makes a random one)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=MAX_GROUP_NAME)
    members: list[StrictStr] = Field(default_factory=list, max_length=MAX_MEMBERS)
    parameters: list[GroupParameter] = Field(default_factory=list, max_length=MAX_GROUP_PARAMETERS)
    config: dict[str, Any] | None = None
    id: StrictStr | None = None


class GroupChange(BaseModel):
    """A change of a group: its name, its members (user ids), or both."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr | None = Field(default=None, min_length=1, max_length=MAX_GROUP_NAME)
    members: list[StrictStr] | None = Field(default=None, max_length=MAX_MEMBERS)
