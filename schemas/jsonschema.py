"""JSON Schema of the wire documents, generated from the models (never written by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.aqueduct import GraphQLRequest
from schemas.auth import AuditEntry, TokenCreated, TokenInfo, TokenRequest
from schemas.buckets import (
    BatchWithdraw,
    ClaimedWork,
    LeaseRequest,
    LeasesRequest,
    LeaseStatus,
    ReportOutcome,
    ReportsRequest,
    RetryRequest,
)
from schemas.errors import ErrorBody
from schemas.experiments import (
    ExecuteRequest,
    Experiment,
    ExperimentChange,
    Extension,
    NewExperiment,
    Task,
)
from schemas.users import UserInfo, UserRequest
from schemas.work import CountRequest, FinishedWork, ViewRequest, Work
from schemas.workers import BeatAnswer, WorkerBeat, WorkerInfo
from schemas.workfiles import (
    ProcessInfo,
    RunReport,
    RunRequest,
    StopAnswer,
    WorkfileInfo,
    WorkfilePage,
    WorkflowFile,
    WorkspacePage,
)

SCHEMA_DIR = Path(__file__).parent

MODELS: dict[str, type[BaseModel]] = {
    "work": Work,
    "finished-work": FinishedWork,
    "view-request": ViewRequest,
    "count-request": CountRequest,
    "lease-request": LeaseRequest,
    "lease-status": LeaseStatus,
    "leases-request": LeasesRequest,
    "batch-withdraw": BatchWithdraw,
    "claimed-work": ClaimedWork,
    "reports-request": ReportsRequest,
    "report-outcome": ReportOutcome,
    "retry-request": RetryRequest,
    "token-request": TokenRequest,
    "token-info": TokenInfo,
    "token-created": TokenCreated,
    "audit-entry": AuditEntry,
    "user-request": UserRequest,
    "user-info": UserInfo,
    "error": ErrorBody,
    "workflow-file": WorkflowFile,
    "workfile-info": WorkfileInfo,
    "workfile-page": WorkfilePage,
    "workspace-page": WorkspacePage,
    "run-request": RunRequest,
    "process-info": ProcessInfo,
    "stop-answer": StopAnswer,
    "run-report": RunReport,
    "experiment": Experiment,
    "new-experiment": NewExperiment,
    "experiment-change": ExperimentChange,
    "extension": Extension,
    "execute-request": ExecuteRequest,
    "task": Task,
    "worker-beat": WorkerBeat,
    "worker-info": WorkerInfo,
    "beat-answer": BeatAnswer,
    "graphql-request": GraphQLRequest,
}


def render(model: type[BaseModel]) -> str:
    """The JSON Schema of `model`, as pretty JSON text in field order."""
    return json.dumps(model.model_json_schema(), indent=2) + "\n"


def render_all() -> dict[str, str]:
    """Every model's schema text, keyed by file stem."""
    return {name: render(model) for name, model in MODELS.items()}
