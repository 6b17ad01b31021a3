"""Wire documents shared by the service and the client (pydantic v2 models)."""

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
    "WORK_FIELDS",
    "Archive",
    "Config",
    "CountRequest",
    "FinishedWork",
    "Notify",
    "Slack",
    "ViewRequest",
    "Work",
]
