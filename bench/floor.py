"""The two floors of a Python ASGI service over MongoDB, served by uvicorn exactly as
Sluice is, for the CPU-per-request benchmark (bench/cpu.py):

- `create_app`, the bare floor: a Starlette app whose `POST /bare/{name}` reads the body
  and answers a fixed JSON value: the answer of route `name`, from the JSON object in
  the file the environment variable `ANSWERS_ENV` names. The CPU it spends per request
  is the least any such service spends.
- `create_driver_app`, the driver floor: a Starlette app whose routes each make the
  PyMongo async call the matching Sluice route makes, with the arguments the request
  names, and answer its result: no validation, no auth, no middleware. Its client is
  opened as Sluice's is (`service.db.open_client`: the same per-round-trip socket
  timeout, which costs the driver a task per write on Python 3.11, the same tz-aware
  decoding and write concern), so a call costs the driver the same on both sides and
  Sluice's CPU over this floor is what Sluice itself adds to the driver's work.

Both encode with orjson, as Sluice does.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from bson import ObjectId
from pymongo import ReturnDocument
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.buckets.claims import CLAIM_SORT, claim_update
from service.db import open_client
from service.settings import Settings

ANSWERS_ENV = "SLUICE_BENCH_FLOOR_ANSWERS"


def _json(value: Any) -> Response:
    return Response(
        orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS),
        media_type="application/json",
    )


def _default(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


async def healthz(request: Request) -> Response:
    return _json({"status": "ok"})


def create_app() -> Starlette:
    """The bare floor (a factory, as uvicorn --factory wants)."""
    with open(os.environ[ANSWERS_ENV], "rb") as answers:
        encoded = {
            name: orjson.dumps(answer) for name, answer in orjson.loads(answers.read()).items()
        }

    async def bare(request: Request) -> Response:
        # Read the body as any POST handler must, so the floor includes receiving it.
        await request.body()
        return Response(encoded[request.path_params["name"]], media_type="application/json")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/bare/{name}", bare, methods=["POST"]),
        ]
    )


def create_driver_app() -> Starlette:
    """The driver floor (a factory): `POST /find`, `/count`, `/insert`, `/claim` and
    `/report`, each naming its collection and arguments in the body; its database is
    Sluice's (MONGODB_URI, SLUICE_DB_NAME and the client settings, read as Sluice
    reads them)."""
    settings = Settings.from_env()
    db = open_client(settings)[settings.db_name]

    async def body(request: Request) -> Any:
        return orjson.loads(await request.body())

    async def find(request: Request) -> Response:
        asked = await body(request)
        cursor = db[asked["collection"]].find(
            asked["filter"],
            asked.get("projection") or None,
            skip=asked.get("skip", 0),
            limit=asked.get("limit", 0),
            sort=[("_id", 1)],
        )
        return _json(await cursor.to_list())

    async def count(request: Request) -> Response:
        asked = await body(request)
        return _json(await db[asked["collection"]].count_documents(asked["filter"]))

    async def insert(request: Request) -> Response:
        asked = await body(request)
        await db[asked["collection"]].insert_many(asked["documents"])
        return _json(True)

    async def claim(request: Request) -> Response:
        asked = await body(request)
        update, _ = claim_update(bound=False)
        claimed = await db[asked["collection"]].find_one_and_update(
            {"status": "queued", **asked["filter"]},
            update,
            sort=CLAIM_SORT,
            projection={"_id": False},
            return_document=ReturnDocument.AFTER,
        )
        return _json(claimed)

    async def report(request: Request) -> Response:
        # What any correct report must do: read the stored work (to judge the report),
        # then replace it conditionally on what was read.
        asked = await body(request)
        collection = db[asked["collection"]]
        document = asked["document"]
        stored = await collection.find_one({"id": document["id"]})
        if stored is None:
            return _json(False)
        replaced = await collection.replace_one(
            {"_id": stored["_id"], "status": stored["status"]}, document
        )
        return _json(bool(replaced.matched_count))

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/find", find, methods=["POST"]),
            Route("/count", count, methods=["POST"]),
            Route("/insert", insert, methods=["POST"]),
            Route("/claim", claim, methods=["POST"]),
            Route("/report", report, methods=["POST"]),
        ]
    )
