"""Wire models of the Aqueduct-compatible surface besides GraphQL itself, whose schema
is the SDL file `schemas/aqueduct.graphql`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class GraphQLRequest(BaseModel):
    """Body of `POST <prefix>/api/graphql`: a GraphQL document and its variables."""

    model_config = ConfigDict(strict=True, extra="forbid")

    query: StrictStr = Field(description="The GraphQL document.")
    variables: dict[str, Any] | None = None
    operationName: StrictStr | None = Field(
        default=None, description="Which operation of the document to run."
    )
    extensions: dict[str, Any] | None = Field(
        default=None, description="Accepted and ignored (some clients send it)."
    )


class GraphQLResponse(BaseModel):
    """Answer of `POST <prefix>/api/graphql` (always status 200, as GraphQL over HTTP
    has it for application/json): the data, and the errors if any."""

    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None,
        description="Each with `message`, and `extensions.code` (a Sluice error code) "
        "for a failure of the operation.",
    )


class DeleteFiles(BaseModel):
    """Body of `POST <prefix>/api/files/{uuid}/delete_files`."""

    model_config = ConfigDict(strict=True, extra="forbid")

    file_list: list[StrictStr] = Field(min_length=1, max_length=1000)
