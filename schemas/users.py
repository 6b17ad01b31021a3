"""Bodies of the user routes (`/admin/users`): people who log in with a password.

Users are created by an admin; their password is stored only as a memory-hard hash
(scrypt), which no answer ever carries. A login session acts with the user's scopes
and pipeline patterns, exactly as a token holding them would.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from schemas.auth import MAX_PATTERNS, PipelineGlob, TokenScope

#: A user name: letters, digits, `.`, `_`, `@` and `-`, starting with a letter or digit.
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
#: Shortest and longest password accepted.
MIN_PASSWORD = 6
MAX_PASSWORD = 1024
#: A password holds no NUL: scrypt's key derivation pads a key with NULs, so "pw" and
#: "pw\0" would be the same password (and "\0" * 10 the empty one).
PASSWORD_PATTERN = r"^[^\x00]*$"


class UserRequest(BaseModel):
    """`POST /admin/users`: the user to create."""

    model_config = ConfigDict(strict=True, extra="forbid")

    username: StrictStr = Field(pattern=USERNAME_PATTERN, description="Unique.")
    password: StrictStr = Field(
        min_length=MIN_PASSWORD,
        max_length=MAX_PASSWORD,
        pattern=PASSWORD_PATTERN,
        description="Stored only as its scrypt hash; no NUL character.",
    )
    scopes: list[TokenScope] = Field(min_length=1, max_length=4)
    pipelines: list[PipelineGlob] = Field(
        default_factory=list,
        max_length=MAX_PATTERNS,
        description="fnmatch patterns of the pipelines the user may touch; empty: every one.",
    )


class UserInfo(BaseModel):
    """A stored user as `GET /admin/users` lists it (never the password hash)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    username: str
    scopes: list[TokenScope]
    pipelines: list[str]
    created: float = Field(description="Unix seconds.")
    created_by: str
