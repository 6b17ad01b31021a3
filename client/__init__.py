"""Sluice client: the Results SDK (`Results`, `AsyncResults`) and its exception tree."""

from client.errors import (
    APIError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ProtocolError,
    ServerError,
    SluiceError,
    TransportError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from client.results import AsyncResults, Results

__all__ = [
    "APIError",
    "AsyncResults",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "ProtocolError",
    "Results",
    "ServerError",
    "SluiceError",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
]
