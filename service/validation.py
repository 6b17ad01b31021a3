"""Turning request JSON into validated models and stored documents."""

from __future__ import annotations

from typing import Any, TypeVar

import bson
from pydantic import BaseModel, ValidationError

from schemas.work import Work
from service.db import Document
from service.errors import ValidationFailed, batch_too_large

M = TypeVar("M", bound=BaseModel)

#: Largest BSON size of a client's document: MongoDB's 16 MiB, less room for the fields
#: the server adds (status, lease, ids).
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024 - 64 * 1024

#: How many field errors one 422 answer lists at most.
MAX_REPORTED_ERRORS = 100


def _errors(exc: ValidationError, index: int | None = None) -> list[dict[str, Any]]:
    found = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        entry: dict[str, Any] = {
            "loc": list(error["loc"]),
            "msg": error["msg"],
            "type": error["type"],
        }
        if index is not None:
            entry["index"] = index
        found.append(entry)
    return found


def parse_model(model: type[M], raw: Any, what: str = "request body") -> M:
    """Validate `raw` as `model`; 422 listing each field error otherwise."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = _errors(exc)
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or what
        raise ValidationFailed(
            f"{what} is invalid: {where}: {first['msg']}", {"errors": errors}
        ) from None


def to_document(work: Work, raw: dict[str, Any]) -> Document:
    """The stored form of a validated work: every field, in wire order."""
    document = work.model_dump()
    if document["config"].get("files") is None:
        # Only workfile steps move files; other works keep the config their client sent.
        document["config"].pop("files", None)
    # The client refuses notify keys it did not send: keep exactly what arrived.
    if isinstance(raw.get("notify"), dict):
        document["notify"] = raw["notify"]
    return document


def validate_works(raw: Any, model: type[Work], max_batch: int) -> list[Document]:
    """Validate a JSON array of works; 422 (nothing written) if any one is invalid or
    too large to store (over MAX_DOCUMENT_BYTES as BSON)."""
    if not isinstance(raw, list):
        raise ValidationFailed("request body must be a JSON array of work documents")
    if len(raw) > max_batch:
        raise batch_too_large(len(raw), max_batch, "documents")
    documents: list[Document] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            errors.append({"index": index, "loc": [], "msg": "must be a JSON object"})
            continue
        try:
            work = model.model_validate(item)
        except ValidationError as exc:
            errors.extend(_errors(exc, index))
            continue
        document = to_document(work, item)
        size = len(bson.encode(document))
        if size > MAX_DOCUMENT_BYTES:
            errors.append(
                {
                    "index": index,
                    "loc": [],
                    "msg": f"is {size} bytes as BSON, over the {MAX_DOCUMENT_BYTES} a stored "
                    "document may take (MongoDB's 16 MiB less room for server fields)",
                    "type": "document_too_large",
                }
            )
            continue
        documents.append(document)
    if errors:
        first = errors[0]
        where = ".".join(str(part) for part in [first["index"], *first["loc"]])
        raise ValidationFailed(
            f"{len({e['index'] for e in errors})} of {len(raw)} documents are invalid "
            f"(first: {where}: {first['msg']}); nothing was written",
            {"errors": errors[:MAX_REPORTED_ERRORS]},
        )
    return documents


def duplicates(values: list[str]) -> list[str]:
    """The values that occur more than once, sorted."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for value in values:
        (repeated if value in seen else seen).add(value)
    return sorted(repeated)
