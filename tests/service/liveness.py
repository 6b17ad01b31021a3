"""Another client, asking a route all along while a test attacks the server."""

from __future__ import annotations

import threading
import time

import httpx


class Watch:
    """Ask `path` every 50 ms from a thread; `slowest` answer in seconds, and the
    statuses of those that were not 200 (`failures`)."""

    def __init__(self, url: str, path: str = "/healthz") -> None:
        self.url = url
        self.path = path
        self.slowest = 0.0
        self.failures: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                status = client.get(self.path).status_code
                self.slowest = max(self.slowest, time.monotonic() - started)
                if status != 200:
                    self.failures.append(status)
                time.sleep(0.05)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
