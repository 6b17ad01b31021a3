"""Registration checks of a flow's names, tasks and timer, before anything is stored."""

from __future__ import annotations

import copy
from typing import Any

from schemas.flows import FlowRequest
from service.errors import BadRequest
from service.settings import Settings


def task_list(request: FlowRequest, ingestion: bool, settings: Settings) -> list[Any] | None:
    """The flow's tasks (one kwargs object each), as independent copies, or None for a
    flow of one `kwargs`; 400 for tasks beside kwargs, tasks of an ingestion, or more
    than SLUICE_AERO_MAX_TASKS."""
    if request.tasks is None:
        return None
    if request.kwargs:
        raise BadRequest("give kwargs or tasks (one kwargs object per task), not both", {})
    if ingestion:
        raise BadRequest(
            "an ingestion flow has no tasks: it fetches one source (its function, if any, "
            "transforms it)",
            {},
        )
    limit = settings.aero_max_tasks
    if len(request.tasks) > limit:
        raise BadRequest(
            f"at most {limit} tasks (SLUICE_AERO_MAX_TASKS)", {"tasks": len(request.tasks)}
        )
    # Copies: no two tasks (nor the request) share a nested object (AERO's aliasing).
    return [copy.deepcopy(task) for task in request.tasks]


def check_names(request: FlowRequest, tasks: list[Any] | None = None) -> None:
    """400 unless input, output and kwargs names (of each task) are distinct
    identifiers, none starting with the reserved `aero`."""
    fixed: dict[str, str] = {}
    _check("input", request.inputs, fixed)
    _check("output", request.outputs, fixed)
    for kwargs in tasks if tasks is not None else [request.kwargs]:
        _check("kwarg", kwargs, dict(fixed))


def _check(what: str, names: Any, seen: dict[str, str]) -> None:
    for name in names:
        if not (isinstance(name, str) and name.isidentifier()):
            raise BadRequest(f"{what} name {name!r} is not a Python identifier", {what: name})
        if name.startswith("aero"):
            raise BadRequest(f"{what} name {name!r}: names starting 'aero' are reserved", {})
        if name in seen:
            raise BadRequest(
                f"{what} name {name!r} is also the name of an {seen[name]}", {what: name}
            )
        seen[name] = what


def check_timer(scheduled: bool, given: int | None, settings: Settings) -> int | None:
    """The timer of a flow (None unless `scheduled`: a TIMER or INGESTION flow), the
    default when not `given`; 400 outside SLUICE_AERO_MIN_TIMER and SLUICE_AERO_MAX_TIMER."""
    if not scheduled:
        return None
    timer = settings.aero_default_timer if given is None else given
    if timer < settings.aero_min_timer:
        raise BadRequest(
            f"timer must be at least {settings.aero_min_timer} s (SLUICE_AERO_MIN_TIMER)",
            {"timer": timer},
        )
    if timer > settings.aero_max_timer:
        raise BadRequest(
            f"timer must be at most {settings.aero_max_timer} s (SLUICE_AERO_MAX_TIMER)",
            {"timer": timer},
        )
    return timer
