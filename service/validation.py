"""Turning request JSON into validated models and stored documents."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

import bson
import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.work import Work
from service.db import Document
from service.errors import ValidationFailed, batch_too_large

M = TypeVar("M", bound=BaseModel)

#: Largest BSON size of a client's document: MongoDB's 16 MiB, less room for the fields
#: the server adds (status, lease, ids).
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024 - 64 * 1024

#: BSON takes at most this many bytes per byte of the same value as compact JSON: the
#: worst is an array of one-digit integers (2 bytes of JSON an element, up to 13 of
#: BSON: type, index key of up to 7 digits and NUL, int32), with room to spare.
BSON_PER_JSON_BYTE = 8

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
    return _stored_form(work.model_dump(), raw)


def _stored_form(document: Document, raw: dict[str, Any]) -> Document:
    if document["config"].get("files") is None:
        # Only workfile steps move files; other works keep the config their client sent.
        document["config"].pop("files", None)
    # The client refuses notify keys it did not send: keep exactly what arrived.
    if isinstance(raw.get("notify"), dict):
        document["notify"] = raw["notify"]
    return document


@cache
def _list_of(model: type[Work]) -> TypeAdapter[list[Work]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def validate_works(raw: Any, model: type[Work], max_batch: int) -> list[Document]:
    """Validate a JSON array of works; 422 (nothing written) if any one is invalid or
    too large to store (over MAX_DOCUMENT_BYTES as BSON)."""
    if not isinstance(raw, list):
        raise ValidationFailed("request body must be a JSON array of work documents")
    if len(raw) > max_batch:
        raise batch_too_large(len(raw), max_batch, "documents")
    adapter = _list_of(model)
    try:
        # The whole array in one call: a fifth faster than one call a document.
        valid = adapter.validate_python(raw)
    except ValidationError:
        valid = None  # judged again one by one, for errors naming each document
    documents: list[Document] = []
    errors: list[dict[str, Any]] = []
    if valid is not None:
        for index, document in enumerate(adapter.dump_python(valid)):
            _check_size(_stored_form(document, raw[index]), index, documents, errors)
    else:
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                errors.append({"index": index, "loc": [], "msg": "must be a JSON object"})
                continue
            try:
                work = model.model_validate(item)
            except ValidationError as exc:
                errors.extend(_errors(exc, index))
                continue
            _check_size(to_document(work, item), index, documents, errors)
    if errors:
        first = errors[0]
        where = ".".join(str(part) for part in [first["index"], *first["loc"]])
        raise ValidationFailed(
            f"{len({e['index'] for e in errors})} of {len(raw)} documents are invalid "
            f"(first: {where}: {first['msg']}); nothing was written",
            {"errors": errors[:MAX_REPORTED_ERRORS]},
        )
    return documents


def _check_size(
    document: Document, index: int, documents: list[Document], errors: list[dict[str, Any]]
) -> None:
    """Append `document` to `documents` if it fits in MAX_DOCUMENT_BYTES, else its error."""
    size = _bson_size(document)
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
    else:
        documents.append(document)


def _bson_size(document: Document) -> int:
    """The document's size as BSON, or a bound below MAX_DOCUMENT_BYTES when its JSON is
    small enough to prove it fits (JSON encodes several times faster than BSON)."""
    try:
        bound = len(orjson.dumps(document)) * BSON_PER_JSON_BYTE
    except TypeError:  # not JSON (a server-side value): measure exactly
        bound = MAX_DOCUMENT_BYTES + 1
    return bound if bound <= MAX_DOCUMENT_BYTES else len(bson.encode(document))


def duplicates(values: list[str]) -> list[str]:
    """The values that occur more than once, sorted."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for value in values:
        (repeated if value in seen else seen).add(value)
    return sorted(repeated)
