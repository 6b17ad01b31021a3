"""Bodies of the admin routes: API tokens (`/admin/tokens`) and the audit trail
(`/admin/audit`).

A token's plaintext appears once, in `TokenCreated`; Sluice keeps only its hash, which
no answer ever carries.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

#: What a token may do; `admin` implies every other scope.
TokenScope = Literal["read", "deposit", "work", "admin"]

#: A token name: letters, digits, `.`, `_` and `-`, starting with a letter or digit.
TOKEN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: A pipeline pattern: pipeline-name characters and the fnmatch wildcards `* ? [ ] !`.
PIPELINE_GLOB_PATTERN = r"^[A-Za-z0-9*?\[\]!-]{1,128}$"
#: Most pipeline patterns on one token.
MAX_PATTERNS = 64

PipelineGlob = Annotated[StrictStr, Field(pattern=PIPELINE_GLOB_PATTERN)]


class TokenRequest(BaseModel):
    """`POST /admin/tokens`: the token to create."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: StrictStr = Field(
        pattern=TOKEN_NAME_PATTERN, description="Unique, also among revoked tokens."
    )
    owner: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Who answers for the token; default: the owner of the creating token.",
    )
    scopes: list[TokenScope] = Field(min_length=1, max_length=4)
    pipelines: list[PipelineGlob] = Field(
        default_factory=list,
        max_length=MAX_PATTERNS,
        description="fnmatch patterns (e.g. 'frb-*') of the pipelines the token may touch; "
        "empty: every pipeline.",
    )
    expires_days: float | None = Field(
        default=None,
        gt=0,
        le=36500,
        description="Days until the token stops working; null: never.",
    )


class TokenInfo(BaseModel):
    """A stored token as `GET /admin/tokens` lists it (never its secret or hash)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    owner: str
    scopes: list[TokenScope]
    pipelines: list[str]
    created: float = Field(description="Unix seconds.")
    created_by: str
    expires: float | None = Field(description="Unix seconds; null: never.")
    revoked: float | None = Field(description="Unix seconds; null: not revoked.")
    revoked_by: str | None
    experiment: dict[str, str] | None = Field(
        default=None,
        description="An extension task's token: the experiment (uuid, eid) it is bound to.",
    )
    task: str | None = Field(default=None, description="An extension task's token: its task.")


class TokenCreated(TokenInfo):
    """Answer to `POST /admin/tokens`: the token, with its plaintext shown this once."""

    token: str = Field(description="The secret: send it as x-access-token. Shown only now.")


class AuditEntry(BaseModel):
    """One record of the append-only audit trail."""

    model_config = ConfigDict(extra="forbid")

    at: float = Field(description="Unix seconds.")
    action: str = Field(description="e.g. results.delete, results.unlock, token.create.")
    target: str
    details: Any = None
    token: str | None = Field(description="Name of the token used; null when auth is off.")
    owner: str | None
    who: str = Field(
        description="'<token> (<owner>)', 'anonymous' when auth is off, or 'sluice' for what "
        "the server did by itself (a background pass)."
    )
    method: str | None = Field(description="The request's method; null for the server's own.")
    path: str | None = Field(description="The request's path; null for the server's own.")
