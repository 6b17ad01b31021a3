"""Request bodies of the flowServ-compatible surface, as the flowserv-core 0.9.4 client
sends them (the group bodies are schemas.leaderboard_groups')."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from schemas.leaderboards import RunArgument
from schemas.users import MAX_PASSWORD


class Credentials(BaseModel):
    """`users/login`, and `users/register` (with `verify`, which Sluice ignores: it
    sends no mail, users are active at once)."""

    model_config = ConfigDict(extra="forbid")

    username: StrictStr = Field(max_length=64)
    password: StrictStr = Field(max_length=MAX_PASSWORD)
    verify: StrictBool = False


class UserRef(BaseModel):
    """`users/activate`: a user id."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr = Field(max_length=64)


class ResetRequest(BaseModel):
    """`users/password/request`: whose password to reset."""

    model_config = ConfigDict(extra="forbid")

    username: StrictStr = Field(max_length=64)


class PasswordReset(BaseModel):
    """`users/password/reset`: the request id an admin handed out, the new password."""

    model_config = ConfigDict(extra="forbid")

    requestId: StrictStr = Field(max_length=64)
    password: StrictStr = Field(max_length=MAX_PASSWORD)


class RunStart(BaseModel):
    """`groups/{id}/runs`: the run's arguments (`{"name", "value"}`; a file's value is
    `{"type": "$file", "value": {"fileId", "targetPath"?}}`)."""

    model_config = ConfigDict(extra="forbid")

    arguments: list[RunArgument] = Field(default_factory=list, max_length=256)
