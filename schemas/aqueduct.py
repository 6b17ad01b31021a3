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


class DeleteFiles(BaseModel):
    """Body of `POST <prefix>/api/files/{uuid}/delete_files`."""

    model_config = ConfigDict(strict=True, extra="forbid")

    file_list: list[StrictStr] = Field(min_length=1, max_length=1000)
