"""Resolvers of the Aqueduct-compatible schema: each translates arguments and answers
between Aqueduct's names and the experiment stores, which do the work (the native
routes use the same stores, so both surfaces see the same experiments).

Errors are the stores' `SluiceError`s; service.aqueduct.routes reports them as
GraphQL errors.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ariadne import MutationType, QueryType
from starlette.requests import Request

from schemas.experiments import (
    EID_PATTERN,
    PAGE_MAX,
    Action,
    ExperimentChange,
    Extension,
    NewExperiment,
    Parameter,
)
from service.auth.principal import principal
from service.db import Document
from service.errors import BadRequest, NotFound, StillRunning
from service.experiments import extensions
from service.experiments.operations import remove_experiment, start_action
from service.experiments.tasks import log_name
from service.settings import Settings
from service.stores import Stores
from service.validation import parse_model

_EID = re.compile(EID_PATTERN)

query = QueryType()
mutation = MutationType()


@dataclass(frozen=True)
class Context:
    """What every resolver of one request gets as `info.context`."""

    request: Request
    stores: Stores
    settings: Settings
    #: `time.monotonic()` by which an `executeExtension` must have answered.
    deadline: float


def _context(info: Any) -> Context:
    context: Context = info.context
    return context


def experiment_data(record: Document) -> Document:
    """A stored experiment as an `ExperimentData`."""
    path = f"/api/files/{record['uuid']}"
    return {
        "uuid": record["uuid"],
        "eid": record["eid"],
        "title": record["title"],
        "description": record.get("description"),
        "createdAt": record["created_at"],
        "updatedAt": record["updated_at"],
        "tags": record["tags"],
        "files": [
            {"name": entry["name"], "path": path, "modifiedAt": entry["modified_at"]}
            for entry in record["files"]
        ],
    }


@query.field("experiments")
async def resolve_experiments(
    _: None, info: Any, offset: int, limit: int, filters: Document | None = None
) -> Document:
    filters = filters or {}
    context = _context(info)
    found, total = await context.stores.experiments.find(
        filters.get("title"),
        filters.get("tags"),
        filters.get("startDate"),
        filters.get("endDate"),
        limit,
        offset,
        context.settings.max_regex_length,
    )
    return {
        "experimentsData": [experiment_data(record) for record in found],
        "totalExperimentsCount": total,
    }


@query.field("experiment")
async def resolve_experiment(_: None, info: Any, experimentIdentifier: Document) -> Document:
    kind, value = experimentIdentifier["type"], experimentIdentifier["value"]
    if kind == "UUID":
        try:
            ref = str(uuid.UUID(value))
        except ValueError:
            raise BadRequest(f"{value[:100]!r} is not a UUID", {"value": value[:100]}) from None
    elif _EID.match(value):
        ref = value
    else:
        raise NotFound(f"no experiment with EID {value[:100]!r}", {"value": value[:100]})
    return experiment_data(await _context(info).stores.experiments.get(ref))


@query.field("tags")
async def resolve_tags(
    _: None,
    info: Any,
    limit: int | None = None,
    offset: int | None = None,
    filters: Document | None = None,
) -> Document:
    limit = PAGE_MAX if limit is None else limit
    offset = offset or 0
    if not 1 <= limit <= PAGE_MAX or offset < 0:
        raise BadRequest(f"limit must be 1-{PAGE_MAX} and offset not negative")
    names = sorted(row["tag"] for row in await _context(info).stores.experiments.tag_counts())
    return {"tagsData": names[offset : offset + limit], "totalTagsCount": len(names)}


def _parameter_info(parameter: Parameter) -> Document:
    default = parameter.default_value
    if isinstance(default, bool):
        default = "1" if default else "0"
    return {
        "name": parameter.name,
        "displayName": parameter.display_name,
        "description": parameter.description,
        "dataType": parameter.data_type,
        "defaultValue": None if default is None else str(default),
        "options": parameter.options,
    }


def _extension_info(extension: Extension) -> Document:
    return {
        "name": extension.name,
        "description": extension.description,
        "authors": extension.authors,
        "actions": [
            {
                "name": action.name,
                "description": action.description or "",
                "experimentVariableName": action.experiment_variable_name or "",
                "parameters": [_parameter_info(p) for p in action.parameters],
            }
            for action in extension.actions
        ],
    }


@query.field("extensions")
async def resolve_extensions(_: None, info: Any) -> list[Document]:
    context = _context(info)
    found, _invalid = await extensions.load(context.settings.extensions_dir)
    # As GET /extensions: only extensions of pipelines the caller may touch.
    caller = principal(context.request)
    return [_extension_info(extension) for extension in found if caller.allows(extension.pipeline)]


@mutation.field("createExperiment")
async def resolve_create(_: None, info: Any, createExperimentInput: Document) -> Document:
    given = createExperimentInput
    new = parse_model(
        NewExperiment, {"title": given["title"], "description": given["description"]}, "input"
    )
    return experiment_data(await _context(info).stores.experiments.create(new, given["tags"]))


@mutation.field("updateExperiment")
async def resolve_update(
    _: None, info: Any, uuid: str, experimentUpdateInput: Document
) -> Document:
    store = _context(info).stores.experiments
    # As in Aqueduct, null and "" both leave a field unchanged.
    values = {key: value for key, value in experimentUpdateInput.items() if value}
    if not values:
        return experiment_data(await store.get(uuid))
    change = parse_model(ExperimentChange, values, "experimentUpdateInput")
    return experiment_data(await store.update(uuid, change))


@mutation.field("addTagsToExperiment")
async def resolve_add_tags(_: None, info: Any, experimentTagsInput: Document) -> Document:
    given = experimentTagsInput
    store = _context(info).stores.experiments
    return experiment_data(await store.add_tags(given["uuid"], given["tags"]))


@mutation.field("removeTagFromExperiment")
async def resolve_remove_tag(_: None, info: Any, experimentTagInput: Document) -> Document:
    given = experimentTagInput
    store = _context(info).stores.experiments
    return experiment_data(await store.remove_tag(given["uuid"], given["tag"]))


@mutation.field("removeExperiment")
async def resolve_remove(_: None, info: Any, experimentRemoveInput: Document) -> None:
    context = _context(info)
    stores = context.stores
    await remove_experiment(
        context.request,
        stores.experiments,
        stores.files,
        stores.tasks,
        experimentRemoveInput["uuid"],
    )


def _from_text(parameter: Parameter | None, text: str) -> Any:
    """A parameter value sent as text (the client sends `str(value)`) as its type wants
    it; text that does not convert is kept, for the parameter check to report."""
    kind = parameter.data_type if parameter else "str"
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            value = float(text)
            return value if math.isfinite(value) else text
    except ValueError:
        return text
    if kind == "bool" and text.lower() in ("true", "1", "false", "0"):
        return text.lower() in ("true", "1")
    return text


def _parameters(action: Action, pairs: list[list[str]]) -> dict[str, Any]:
    declared = {p.name: p for p in action.parameters}
    given: dict[str, Any] = {}
    for pair in pairs:
        if len(pair) != 2:
            raise BadRequest("each parameter is a [name, value] pair", {"pair": pair[:3]})
        name, text = pair
        if name in given:
            raise BadRequest(f"parameter {name[:100]!r} is given twice", {"name": name[:100]})
        given[name] = _from_text(declared.get(name), text)
    return given


@mutation.field("executeExtension")
async def resolve_execute(
    _: None, info: Any, extension: str, action: str, params: list[list[str]]
) -> Document:
    context = _context(info)
    stores = context.stores
    found, chosen = await extensions.find_action(context.settings.extensions_dir, extension, action)
    task = await start_action(
        context.request,
        stores.experiments,
        stores.tasks,
        found,
        chosen,
        _parameters(chosen, params),
    )
    task_id = task["task_id"]
    done = await stores.tasks.wait(task_id, max(0.0, context.deadline - time.monotonic()))
    if done is None:
        raise StillRunning(
            f"task {task_id} has not ended within SLUICE_AQUEDUCT_EXECUTE_WAIT "
            f"({context.settings.aqueduct_execute_wait:g} s); it carries on: "
            f"see GET /tasks/{task_id}",
            {"task_id": task_id},
        )
    code = done["result_code"]
    return {
        "returnCode": code if isinstance(code, int) else -1,
        "stdout": done["stdout"],
        "stderr": done["stderr"],
        "logExperiment": done["experiment_eid"] or "",
        "logFile": log_name(task_id) if done["experiment_uuid"] else "",
        "taskId": task_id,
    }
