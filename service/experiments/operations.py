"""What both experiment surfaces (the native routes and the Aqueduct-compatible one)
do the same way: removing an experiment with everything it owns, starting an action.

Each takes the request only for the caller (its pipelines, its name) and the audit
trail; the work is the stores'.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from schemas.experiments import Action, Extension
from service.auth.audit import record as audit
from service.auth.principal import caller_name, principal
from service.db import Document
from service.experiments import extensions
from service.experiments.files import FileStore
from service.experiments.store import ExperimentStore
from service.experiments.tasks import TaskStore


async def remove_experiment(
    request: Request,
    experiments: ExperimentStore,
    files: FileStore,
    tasks: TaskStore,
    ref: str,
) -> Document:
    """Delete experiment `ref` (EID or UUID), its files and its tasks, and audit it;
    return the record as it was. 404 if there is none; 403 (nothing removed) if one of
    its tasks is of a pipeline outside the caller's patterns."""
    caller = principal(request)
    # Experiments are shared by every pipeline; their tasks are not.
    experiment = await experiments.get(ref)
    await tasks.check_removable(experiment["uuid"], caller)
    removed = await experiments.delete(experiment["uuid"])
    deleted_files = await files.remove_all(removed["uuid"])
    deleted_tasks = await tasks.remove_for(removed["uuid"], caller)
    await audit(
        request,
        "experiments.remove",
        removed["eid"],
        {"files": deleted_files, "tasks": deleted_tasks},
    )
    return removed


async def start_action(
    request: Request,
    experiments: ExperimentStore,
    tasks: TaskStore,
    extension: Extension,
    action: Action,
    parameters: dict[str, Any],
) -> Document:
    """Check `parameters` against the action and queue it as a task; return the task.
    403 for a pipeline outside the caller's patterns, 422 for bad parameters (then
    nothing is queued)."""
    # The task is a work of the extension's pipeline: a token limited to other
    # pipelines may not queue it.
    principal(request).check_pipelines([extension.pipeline])
    values, experiment = await extensions.check_parameters(action, parameters, experiments)
    return await tasks.start(extension, action, values, experiment, caller_name(request))
