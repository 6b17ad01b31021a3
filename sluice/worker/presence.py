"""A worker's presence in the server's registry, and its patience with a down server.

`Presence` registers the worker (name, host, pid, pipelines, site, version, current
work) and renews that registration from a background thread as often as the server
asks, so `sluice workers` and the dashboard list it while it lives; it removes it at
exit. The current work is the latest started of those running; a change is sent at
once, but at most one beat per `MIN_BEAT` seconds, so a worker running many short works
does not beat once per work. A beat that fails is retried at the next interval: the
registry is for people, and its outage must never stop the work.

`Backoff` spaces the worker's retries while the server is unreachable: exponential,
with jitter, so a fleet of workers does not hammer a server that comes back.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from sluice.buckets import Buckets
from sluice.core.plan import Document
from sluice.errors import SluiceError

log = logging.getLogger("sluice.worker")

#: Seconds between beats until the server says otherwise.
DEFAULT_BEAT = 20.0
#: Shortest pause between two beats, in seconds, however often the current work changes.
MIN_BEAT = 1.0
#: Longest pause between retries against an unreachable server.
MAX_BACKOFF = 60.0


def _version() -> str:
    try:
        return metadata.version("sluice")
    except metadata.PackageNotFoundError:
        return "unknown"


class Presence:
    """The worker's registration; `start()`, set `current` as works come and go, `stop()`."""

    def __init__(
        self,
        buckets: Buckets,
        pipelines: Sequence[str],
        site: str | None,
        name: str | None = None,
    ) -> None:
        self.buckets = buckets
        self.id = uuid.uuid4().hex
        host = socket.gethostname()
        self.info: dict[str, Any] = {
            "name": name or f"{host}:{os.getpid()}",
            "host": host,
            "pid": os.getpid(),
            "pipelines": list(pipelines),
            "site": site,
            "version": _version(),
            "current": None,
        }
        self._interval = DEFAULT_BEAT
        self._running: dict[str, dict[str, Any]] = {}
        self._last = 0.0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def started(self, work: Document) -> None:
        """Say that the worker started `work` (now its current work)."""
        entry = {
            "id": work["id"],
            "pipeline": work["pipeline"],
            "attempt": work.get("attempt") or 0,
            "started": time.time(),
        }
        with self._lock:
            self._running[str(work["id"])] = entry
            self.info["current"] = entry
        self._wake.set()

    def ended(self, work: Document) -> None:
        """Say that `work` ended; the current work is then the latest started of those
        still running (None: the worker is idle)."""
        with self._lock:
            self._running.pop(str(work["id"]), None)
            latest = max(self._running.values(), key=lambda e: e["started"], default=None)
            self.info["current"] = latest
        self._wake.set()

    def start(self) -> None:
        """Register now (a failure is logged, not raised) and keep beating."""
        self._beat()
        self._thread = threading.Thread(target=self._loop, name="sluice-presence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove the registration (best effort)."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            self.buckets.forget_worker(self.id)
        except SluiceError as exc:
            log.debug("could not remove the worker's registration: %s", exc)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            changed = self._wake.wait(self._interval)
            if changed:
                # Changes that come faster than MIN_BEAT go in one beat.
                spacing = min(MIN_BEAT, self._interval)
                self._stopped.wait(max(0.0, self._last + spacing - time.monotonic()))
            self._wake.clear()
            if not self._stopped.is_set():
                self._beat()

    def _beat(self) -> None:
        self._last = time.monotonic()
        with self._lock:
            info = dict(self.info)
        try:
            answer = self.buckets.beat(self.id, info)
        except SluiceError as exc:
            log.debug("worker registration beat failed: %s", exc)
            return
        self._interval = max(0.1, answer.beat)


class Backoff:
    """Pauses between retries: `base` doubled per failure up to `longest`, each drawn
    at random from its upper half (jitter); `reset()` after a success."""

    def __init__(self, base: float = 1.0, longest: float = MAX_BACKOFF) -> None:
        self.base = base
        self.longest = longest
        self.failures = 0

    def next(self) -> float:
        """The pause before the next retry (and count this failure)."""
        ceiling = min(self.longest, self.base * 2**self.failures)
        self.failures += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0
