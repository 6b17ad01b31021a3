"""JSON Schema of the wire documents, generated from the models (never written by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.buckets import LeaseRequest, LeaseStatus
from schemas.work import CountRequest, FinishedWork, ViewRequest, Work

SCHEMA_DIR = Path(__file__).parent

MODELS: dict[str, type[BaseModel]] = {
    "work": Work,
    "finished-work": FinishedWork,
    "view-request": ViewRequest,
    "count-request": CountRequest,
    "lease-request": LeaseRequest,
    "lease-status": LeaseStatus,
}


def render(model: type[BaseModel]) -> str:
    """The JSON Schema of `model`, as pretty JSON text in field order."""
    return json.dumps(model.model_json_schema(), indent=2) + "\n"


def render_all() -> dict[str, str]:
    """Every model's schema text, keyed by file stem."""
    return {name: render(model) for name, model in MODELS.items()}
