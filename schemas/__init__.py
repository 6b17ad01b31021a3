"""Wire documents shared by the service and the client (pydantic v2 models)."""

from schemas.buckets import LEASE_HEADER, LeaseRequest, LeaseStatus
from schemas.work import (
    WORK_FIELDS,
    Archive,
    Config,
    CountRequest,
    FinishedWork,
    Notify,
    Slack,
    ViewRequest,
    Work,
)

__all__ = [
    "LEASE_HEADER",
    "WORK_FIELDS",
    "Archive",
    "Config",
    "CountRequest",
    "FinishedWork",
    "LeaseRequest",
    "LeaseStatus",
    "Notify",
    "Slack",
    "ViewRequest",
    "Work",
]
