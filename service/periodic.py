"""A periodic background pass (the reaper, the mover, run and task upkeep), run in the
app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from pymongo.errors import PyMongoError

from service.observe.logs import brief
from service.observe.metrics import Metrics

log = logging.getLogger("sluice.periodic")

#: Seconds between the cancellations `Periodic.stop` sends until the loop has ended: a
#: cancellation landing as a driver call completes can be swallowed inside the driver
#: (asyncio.wait_for on Python 3.11), and the loop would then sleep on.
STOP_RETRY_SECONDS = 0.1


class Periodic:
    """Run `action` now and then every `interval` seconds until stopped; log its
    tallies when any is not zero.

    A failing pass is logged and the loop goes on: a database outage must not end
    the reaper for the life of the process. A database failure is one short line per
    pass (its traceback only at DEBUG); anything else is a bug and logs its traceback.
    With `metrics` set, tallies and failures are counted there too.
    """

    #: Where tallies and failures are counted, if anywhere.
    metrics: Metrics | None = None

    def __init__(
        self, name: str, interval: float, action: Callable[[], Awaitable[dict[str, int]]]
    ) -> None:
        self.name = name
        self.interval = interval
        self.action = action
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start the loop on the running event loop (no-op if interval is 0)."""
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end (cancelling it again every
        STOP_RETRY_SECONDS until it has)."""
        if self._task is None:
            return
        self._stopping = True
        while not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=STOP_RETRY_SECONDS)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self._stopping = False

    async def _run(self) -> None:
        while not self._stopping:
            try:
                outcome = await self.action()
                if any(outcome.values()):
                    log.info("%s: %s", self.name, outcome)
                if self.metrics is not None:
                    self.metrics.tallies(self.name, outcome)
            except Exception as exc:
                self._failed(exc)
            await asyncio.sleep(self.interval)

    def _failed(self, exc: Exception) -> None:
        database = isinstance(exc, PyMongoError)
        if self.metrics is not None:
            self.metrics.loop_failures.labels(self.name).inc()
            if database:
                self.metrics.database_errors.labels(self.name).inc()
        if database:
            log.warning(
                "%s pass failed (database): %s; retrying in %ss",
                self.name, brief(exc), self.interval,
            )  # fmt: skip
            log.debug("%s pass failure", self.name, exc_info=exc)
        else:
            log.exception("%s pass failed; retrying in %ss", self.name, self.interval)
