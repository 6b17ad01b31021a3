"""Background loops of Buckets (the reaper, the mover), run in the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("sluice.buckets")


class Periodic:
    """Run `action` now and then every `interval` seconds until stopped; log its
    tallies when any is not zero.

    A failing pass is logged and the loop goes on: a database outage must not end
    the reaper for the life of the process.
    """

    def __init__(
        self, name: str, interval: float, action: Callable[[], Awaitable[dict[str, int]]]
    ) -> None:
        self.name = name
        self.interval = interval
        self.action = action
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop on the running event loop (no-op if interval is 0)."""
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                outcome = await self.action()
                if any(outcome.values()):
                    log.info("%s: %s", self.name, outcome)
            except Exception:
                log.exception("%s pass failed; retrying in %ss", self.name, self.interval)
            await asyncio.sleep(self.interval)
