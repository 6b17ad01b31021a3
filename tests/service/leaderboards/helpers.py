"""A "Hello World" benchmark template, and groups made through the group store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import yaml

from schemas.leaderboard_groups import GroupRequest
from service.auth.principal import Principal
from service.db import Database
from service.leaderboards.groups import GroupStore
from service.leaderboards.uploads import UploadStore
from service.settings import Settings
from service.users.store import UserStore

HELLO = "tests.service.leaderboards.hello"


def hello_template(pipeline: str, **changes: Any) -> dict[str, Any]:
    """The hello-world benchmark of flowServ's demos, as Sluice steps."""
    template: dict[str, Any] = {
        "name": f"Hello World {uuid.uuid4().hex[:6]}",
        "description": "Hello World Demo",
        "instructions": "# Hello World",
        "pipeline": pipeline,
        "site": "local",
        "parameters": [
            {"name": "names", "dtype": "file", "label": "Input file", "isRequired": True,
             "target": "data/names.txt", "group": "main"},
            {"name": "sleeptime", "dtype": "int", "label": "Sleep time (s)", "defaultValue": 0,
             "group": "main"},
            {"name": "greeting", "dtype": "string", "label": "Greeting", "defaultValue": "Hello",
             "group": "main"},
            {"name": "extra", "dtype": "record", "fields": [
                {"name": "avg_count", "dtype": "string"}, {"name": "drop", "dtype": "bool"}]},
        ],
        "parameterGroups": [{"name": "main", "title": "Main Step"}],
        "steps": [
            {"name": "greet", "function": f"{HELLO}.greet", "retries": 0,
             "parameters": {"names": "@names", "greeting": "@greeting",
                            "sleeptime": "@sleeptime"},
             "outputs": ["results/greetings.txt"]},
            {"name": "analyze", "function": f"{HELLO}.analyze", "retries": 0,
             "depends_on": ["greet"], "parameters": {"extra": "@extra"},
             "outputs": ["results/analytics.json"]},
        ],
        "results": {
            "file": "results/analytics.json",
            "schema": [
                {"name": "avg_count", "label": "Avg. Characters per Line", "dtype": "float"},
                {"name": "max_len", "label": "Max. Output Line Length", "dtype": "float"},
                {"name": "max_line", "label": "Longest Output", "dtype": "string",
                 "required": False},
            ],
            "orderBy": [{"name": "avg_count", "sortDesc": True}],
        },
        "postproc": {
            "steps": [{"name": "compare", "function": f"{HELLO}.compare", "retries": 0,
                       "outputs": ["results/compare.json"]}],
            "outputs": ["results/compare.json"],
        },
    }  # fmt: skip
    template.update(changes)
    return template


def as_yaml(document: Any) -> bytes:
    return yaml.safe_dump(document, sort_keys=False).encode()


def make_group(env: dict[str, str], workflow_id: str, pipeline: str, name: str) -> str:
    """A group of the workflow, made by the group store on the Sluice's database; its id."""

    async def create() -> str:
        settings = Settings.from_env(env)
        database = Database(settings)
        try:
            groups = GroupStore(database, UserStore(database, settings), 100)
            caller = Principal(None, None, frozenset({"admin"}))
            group = await groups.create(workflow_id, pipeline, GroupRequest(name=name), caller)
            return str(group["_id"])
        finally:
            await database.close()

    return asyncio.run(create())


def upload(env: dict[str, str], group_id: str, name: str, content: bytes) -> str:
    """A file uploaded to the group through the upload store; its upload id."""

    async def store() -> str:
        settings = Settings.from_env(env)
        database = Database(settings)
        try:
            groups = GroupStore(database, UserStore(database, settings), 100)
            uploads = UploadStore(database, groups, 1024 * 1024, 100)

            async def chunks() -> AsyncIterator[bytes]:
                yield content

            return str((await uploads.store(group_id, name, chunks()))["id"])
        finally:
            await database.close()

    return asyncio.run(store())
