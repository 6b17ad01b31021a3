"""The floor of a Python ASGI service: a bare Starlette app, served by uvicorn exactly as
Sluice is, that answers `POST /results/view` with a fixed JSON value and does
nothing else. The CPU it spends per request is the least any such service spends.

Serve it with `SluiceProcess(env, app="bench.floor:create_app")`; the answer is the JSON
text in the environment variable named by `ANSWER_ENV`.
"""

from __future__ import annotations

import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ANSWER_ENV = "SLUICE_BENCH_FLOOR_ANSWER"


def create_app() -> Starlette:
    """The bare app (a factory, as uvicorn --factory wants)."""
    answer = json.loads(os.environ.get(ANSWER_ENV, "0"))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def view(request: Request) -> Response:
        # Read the body as any POST handler must, so the floor includes receiving it.
        await request.body()
        return JSONResponse(answer)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/results/view", view, methods=["POST"]),
        ]
    )
