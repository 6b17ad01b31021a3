"""Workflow templates of leaderboards (`leaderboards.templates`), installed by an admin.

A template (`schemas.leaderboards.Template`, YAML or JSON) is checked whole before
anything is stored: its fields, its steps as a workfile (references, dependencies,
output paths confined to the working directory) and its post-processing steps. Names
are unique. Each template also keeps the bookkeeping of its ranking: `ranking_version`
grows whenever a run enters or leaves its ranking (service.leaderboards.postproc reads
it), and `postproc` the state of its post-processing.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from pydantic import ValidationError
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from schemas.leaderboards import Template
from schemas.workfiles import WorkflowFile
from service.auth.principal import Principal
from service.db import Database, Document
from service.errors import Conflict, NotFound, ValidationFailed
from service.settings import Settings
from service.validation import parse_model
from service.workfiles import definition

COLLECTION = "leaderboards.templates"
INDEXES = [IndexModel([("name", ASCENDING)], unique=True, name="name")]


class WorkflowNotFound(NotFound):
    code = "workflow_not_found"


class InvalidTemplate(ValidationFailed):
    """A template that is not a valid benchmark (422, the fault in the message)."""

    code = "invalid_template"


def workflow_not_found(workflow_id: str) -> WorkflowNotFound:
    return WorkflowNotFound(f"no workflow {workflow_id[:64]!r}", {"workflow": workflow_id[:64]})


def variable(name: str) -> str:
    """The workfile variable carrying parameter `name`."""
    return f"@{name}"


def workflow_of(template: Document, postproc: bool = False) -> WorkflowFile:
    """The workfile a run of `template` (or of its post-processing) executes: its
    steps, with one variable per parameter (post-processing has none)."""
    steps = template["postproc"]["steps"] if postproc else template["steps"]
    # Every step in the template's pipeline, the one access is checked on (a template
    # stored before steps were held to it may name another).
    steps = [{**step, "pipeline": template["pipeline"]} for step in steps]
    variables = (
        {}
        if postproc
        else {variable(p["name"]): p.get("defaultValue") for p in template["parameters"]}
    )
    return WorkflowFile.model_validate(
        {
            "name": template["name"] + (" (post-processing)" if postproc else ""),
            "pipeline": template["pipeline"],
            "site": template["site"],
            "variables": variables,
            "operators": steps,
        }
    )


def check(content: bytes, kind: definition.FileType, settings: Settings) -> Document:
    """The document to store for template `content`; InvalidTemplate (422) naming the
    fault. CPU-bound: call it off the event loop."""
    try:
        raw = definition.load(
            content, kind, settings.max_workfile_depth, settings.max_workfile_steps
        )
    except definition.InvalidWorkfile as exc:
        raise InvalidTemplate(exc.message.replace("the file", "the template")) from None
    try:
        template = Template.model_validate(raw)
    except ValidationError:
        parse_model(Template, raw, "template")  # raises the 422 listing each error
        raise
    parameters = []
    for index, parameter in enumerate(template.parameters):
        wire = parameter.model_dump(exclude_none=True)
        wire.setdefault("index", index)
        wire.setdefault("label", parameter.name)
        if parameter.dtype == "file":
            wire.setdefault("target", parameter.name)
        parameters.append(wire)
    document: Document = {
        "name": template.name,
        "description": template.description,
        "instructions": template.instructions,
        "pipeline": template.pipeline,
        "site": template.site,
        "parameters": parameters,
        "parameterGroups": [group.model_dump() for group in template.parameterGroups],
        "steps": [step.model_dump(exclude_defaults=True) for step in template.steps],
        "results": None,
        "postproc": None,
    }
    if template.results is not None:
        document["results"] = template.results.model_dump(by_alias=True)
        for column in document["results"]["schema"]:
            column["label"] = column["label"] or column["name"]
            column["path"] = column["path"] or column["name"]
    if template.postproc is not None:
        document["postproc"] = {
            "steps": [step.model_dump(exclude_defaults=True) for step in template.postproc.steps],
            "outputs": template.postproc.outputs,
        }
    for postproc in (False, True):
        if postproc and document["postproc"] is None:
            continue
        try:
            definition.order(workflow_of(document, postproc))
        except definition.InvalidWorkfile as exc:
            where = "post-processing" if postproc else "steps"
            raise InvalidTemplate(f"the template's {where}: {exc.message}", exc.details) from None
    if document["postproc"] is not None:
        written = {path for step in template.postproc.steps for path in step.outputs}  # type: ignore[union-attr]
        missing = [path for path in document["postproc"]["outputs"] if path not in written]
        if missing:
            raise InvalidTemplate(
                f"post-processing outputs no step declares: {', '.join(missing)}",
                {"outputs": missing},
            )
    return document


class TemplateStore:
    """Install, list and read workflow templates."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        self.settings = settings

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def install(
        self, content: bytes, file_name: str, owner: str, caller: Principal | None = None
    ) -> Document:
        """Check and store a template; the stored document. 422 `invalid_template`
        (nothing stored), 409 if a template of that name is installed, 403 if `caller`
        may not touch its pipeline."""
        kind = definition.file_type(file_name)
        document = await asyncio.to_thread(check, content, kind, self.settings)
        if caller is not None:
            caller.check_pipelines([document["pipeline"]])
        document.update(
            _id=secrets.token_hex(16),
            owner=owner,
            created_at=time.time(),
            ranking_version=0,
            postproc_state={"version": 0, "fingerprint": None, "run": None, "latest": None},
        )
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            raise Conflict(
                f"a workflow named {document['name']!r} is installed", {"name": document["name"]}
            ) from None
        return document

    async def get(self, workflow_id: Any) -> Document:
        """The template `workflow_id`; WorkflowNotFound (404)."""
        found = None
        if isinstance(workflow_id, str) and len(workflow_id) <= 64:
            found = await self.collection.find_one({"_id": workflow_id})
        if found is None:
            raise workflow_not_found(str(workflow_id))
        return found

    async def listing(self) -> list[Document]:
        """Every template by name, at most SLUICE_MAX_VIEW_RESULTS."""
        cursor = self.collection.find(
            {}, sort=[("name", ASCENDING)], limit=self.settings.max_view_results
        )
        return await cursor.to_list()

    async def ranking_changed(self, workflow_id: str) -> None:
        """Note that a run entered or left the ranking of `workflow_id`."""
        await self.collection.update_one({"_id": workflow_id}, {"$inc": {"ranking_version": 1}})
