"""The request deadline (`with_deadline`): a handler past SLUICE_REQUEST_TIMEOUT is
answered 503 in time even when it does not honour its cancellation, and its clean-ups
get their grace."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service import routing
from service.errors import Unavailable
from service.routing import CLEANUP_GRACE_SECONDS, Handler, with_deadline

DEADLINE = 0.2


def _request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": []})


def _bounded(handler: Handler, seconds: float = DEADLINE) -> Handler:
    return with_deadline(handler, lambda _: seconds)


async def test_an_answer_in_time_is_the_handlers() -> None:
    async def handler(request: Request) -> Response:
        await asyncio.sleep(0.01)
        return JSONResponse({"ok": True})

    answer = await _bounded(handler)(_request())
    assert answer.body == b'{"ok":true}'


async def test_an_error_in_time_is_the_handlers() -> None:
    async def handler(request: Request) -> Response:
        raise LookupError("not here")

    with pytest.raises(LookupError, match="not here"):
        await _bounded(handler)(_request())


async def test_no_deadline_runs_the_handler_as_it_is() -> None:
    async def handler(request: Request) -> Response:
        await asyncio.sleep(DEADLINE * 2)
        return JSONResponse(1)

    assert (await _bounded(handler, 0)(_request())).body == b"1"


async def test_a_handler_past_the_deadline_is_cancelled_and_answered_503() -> None:
    cleaned = asyncio.Event()

    async def handler(request: Request) -> Response:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.set()
        return JSONResponse(1)

    started = time.monotonic()
    with pytest.raises(Unavailable) as raised:
        await _bounded(handler)(_request())
    assert raised.value.details == {"limit": "SLUICE_REQUEST_TIMEOUT"}
    assert cleaned.is_set()  # its clean-up ran before the answer
    assert time.monotonic() - started < DEADLINE + CLEANUP_GRACE_SECONDS


async def test_a_handler_that_swallows_its_cancellation_is_answered_anyway() -> None:
    """As the driver can (a cancellation landing as its wait_for completes): the
    handler carries on, the answer does not wait for it."""
    release = asyncio.Event()
    ended = asyncio.Event()

    async def handler(request: Request) -> Response:
        with contextlib.suppress(asyncio.CancelledError):  # swallowed
            await asyncio.sleep(30)
        await asyncio.wait_for(release.wait(), 5)
        ended.set()
        return JSONResponse(1)

    started = time.monotonic()
    with pytest.raises(Unavailable):
        await _bounded(handler)(_request())
    took = time.monotonic() - started
    # It waited out the grace (the loop's timers may fire a clock tick early), no longer.
    assert DEADLINE + CLEANUP_GRACE_SECONDS - 0.05 <= took < DEADLINE + CLEANUP_GRACE_SECONDS + 2
    assert not ended.is_set() and len(routing._LATE) == 1  # it runs on, held
    release.set()
    await asyncio.wait_for(ended.wait(), 5)
    await asyncio.sleep(0)
    assert not routing._LATE


async def test_a_handler_that_finishes_in_its_grace_is_answered_with_its_answer() -> None:
    async def handler(request: Request) -> Response:
        with contextlib.suppress(asyncio.CancelledError):  # the write went through after all
            await asyncio.sleep(30)
        return JSONResponse("done")

    assert (await _bounded(handler)(_request())).body == b'"done"'


async def test_a_stopping_server_cancels_the_handler_and_waits_for_its_clean_up() -> None:
    cleaned = asyncio.Event()
    running = asyncio.Event()

    async def handler(request: Request) -> Response:
        running.set()
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.05)  # an abort's round trip
            cleaned.set()
        return JSONResponse(1)

    request = asyncio.ensure_future(_bounded(handler, 30)(_request()))
    await running.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert cleaned.is_set()
