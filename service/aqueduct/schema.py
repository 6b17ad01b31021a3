"""The executable GraphQL schema: the SDL of `schemas/aqueduct.graphql`, its scalars
and enum, and the resolvers of service.aqueduct.resolvers bound to it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ariadne import EnumType, ScalarType, load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema

import schemas
from service.aqueduct.resolvers import mutation, query

SDL_PATH = Path(schemas.__file__).parent / "aqueduct.graphql"

uuid_scalar = ScalarType("UUID")
datetime_scalar = ScalarType("DateTime")
void_scalar = ScalarType("Void")
id_type = EnumType("IDType", {"UUID": "UUID", "EID": "EID"})


@uuid_scalar.serializer
def serialize_uuid(value: Any) -> str:
    return str(value)


@uuid_scalar.value_parser
def parse_uuid(value: Any) -> str:
    """A UUID string in canonical form; ValueError (a GraphQL error) otherwise."""
    if not isinstance(value, str):
        raise ValueError("a UUID is a string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"{value[:100]!r} is not a UUID") from None


@datetime_scalar.serializer
def serialize_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with an explicit +00:00 offset (Python 3.8-3.10 reject `Z`)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


@datetime_scalar.value_parser
def parse_datetime(value: Any) -> datetime:
    """An aware UTC datetime; input without an offset is taken as UTC."""
    if not isinstance(value, str):
        raise ValueError("a DateTime is an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value)
        # In UTC now: an offset pushing it past year 1-9999 cannot be stored.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"{value[:100]!r} is not an ISO 8601 time") from None


@void_scalar.serializer
def serialize_void(value: Any) -> None:
    return None


def build_schema() -> GraphQLSchema:
    """The schema with every resolver and scalar bound."""
    return make_executable_schema(
        load_schema_from_path(SDL_PATH),
        query,
        mutation,
        uuid_scalar,
        datetime_scalar,
        void_scalar,
        id_type,
    )
