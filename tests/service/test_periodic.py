"""The periodic loop (`Periodic`): it runs its action every interval, survives failing
passes, and stops when asked even if a pass swallows its cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from service.periodic import Periodic


async def test_a_loop_runs_its_action_every_interval_and_survives_a_failure() -> None:
    passes = 0

    async def action() -> dict[str, int]:
        nonlocal passes
        passes += 1
        if passes == 1:
            raise RuntimeError("a bug in one pass")
        return {"done": 1}

    loop = Periodic("test", 0.01, action)
    loop.start()
    for _ in range(500):
        if passes >= 3:
            break
        await asyncio.sleep(0.01)
    await loop.stop()
    assert passes >= 3
    stopped_at = passes
    await asyncio.sleep(0.05)
    assert passes == stopped_at


async def test_stop_ends_a_loop_whose_pass_swallows_the_cancellation() -> None:
    """As the driver can, when the cancellation lands as its call completes: the pass
    goes on and the loop would sleep on; stop cancels again until the loop has ended."""
    inside = asyncio.Event()

    async def action() -> dict[str, int]:
        inside.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)
        return {}

    loop = Periodic("test", 30, action)
    loop.start()
    await inside.wait()
    stopping = asyncio.ensure_future(loop.stop())
    await asyncio.wait({stopping}, timeout=5)
    assert stopping.done(), "the loop did not stop"
    await stopping


async def test_a_loop_with_interval_zero_does_not_start() -> None:
    async def action() -> dict[str, int]:
        raise AssertionError("never run")

    loop = Periodic("test", 0, action)
    loop.start()
    await asyncio.sleep(0.01)
    await loop.stop()
