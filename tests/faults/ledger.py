"""Clients that keep a ledger of what Sluice acknowledged, for the fault tests.

A `Depositor` stores fresh results in small batches as the CHIME client does: a batch
that got no answer, or an error, is sent again with the same ids until it is known to be
stored (a 409 naming ids already present counts those as stored; the rest is re-sent).
Afterwards `stored_ids` reads back what Results holds, so a test can check that every
acknowledged write is there, and every id exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from tests.service.factories import work

#: Seconds between re-sends of a batch that failed.
RETRY_PAUSE = 0.1


def outcome(response: httpx.Response | None) -> str:
    """A short label for an answer: "200", "503 database_unavailable", or "no answer"."""
    if response is None:
        return "no answer"
    if response.is_success:
        return str(response.status_code)
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "not the error shape"
    return f"{response.status_code} {code}"


def send(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
    """One request; None when Sluice did not answer (killed, restarting)."""
    try:
        return client.request(method, path, **kwargs)
    except httpx.TransportError:
        return None


def retryable(response: httpx.Response | None) -> bool:
    """Whether a client should send the same request again: no answer, or a 503."""
    return response is None or response.status_code == 503


class Depositor:
    """Deposits batches of new results into `pipeline`, re-sending failed ones."""

    def __init__(self, url: str, pipeline: str, batch: int, timeout: float = 30.0) -> None:
        self.client = httpx.Client(base_url=url, timeout=timeout)
        self.pipeline = pipeline
        self.batch = batch
        #: Ids answered 2xx: these must never be lost.
        self.acked: set[str] = set()
        #: Every id sent at least once.
        self.sent: set[str] = set()
        #: How often each kind of answer came back.
        self.outcomes: Counter[str] = Counter()
        self._pending: list[dict[str, Any]] = []

    @property
    def settled(self) -> bool:
        """Whether every batch sent is known to be stored."""
        return not self._pending

    def step(self) -> None:
        """Send the pending batch again, or a new one."""
        if not self._pending:
            self._pending = [work(self.pipeline) for _ in range(self.batch)]
            self.sent.update(d["id"] for d in self._pending)
        response = send(self.client, "POST", "/results/results", json=self._pending)
        self.outcomes[outcome(response)] += 1
        if response is not None and response.is_success:
            self.acked.update(d["id"] for d in self._pending)
            self._pending = []
            return
        if response is not None and response.status_code == 409:
            existing = response.json()["error"]["details"].get("existing", {})
            present = set(existing.get(self.pipeline, []))
            self._pending = [d for d in self._pending if d["id"] not in present]
            return
        assert retryable(response), f"deposit refused: {outcome(response)}"
        time.sleep(RETRY_PAUSE)

    def settle(self, timeout: float = 60.0) -> None:
        """Re-send until every batch is stored; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self._pending:
            assert time.monotonic() < deadline, f"batch never stored: {self.outcomes}"
            self.step()

    def close(self) -> None:
        self.client.close()


class Loop:
    """Call `action` over and over in a thread until `stop()`; re-raises its failure."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.action()
        except BaseException as exc:  # handed to the test thread in stop()
            self._error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)
        assert not self._thread.is_alive(), "a load thread hung"
        if self._error is not None:
            raise self._error


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `check` until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stored_ids(client: httpx.Client, pipeline: str) -> Counter[str]:
    """How many times each id is stored in Results for `pipeline` (all of them)."""
    response = client.post(
        "/results/view", json={"query": {"pipeline": pipeline}, "projection": {"id": True}}
    )
    assert response.status_code == 200, response.text
    return Counter(d["id"] for d in response.json())


def check_exactly_once(client: httpx.Client, depositors: list[Depositor]) -> None:
    """Every id sent is stored exactly once (acknowledged ones were never re-sent, so
    a lost acknowledged write shows up here as missing), and nothing else is."""
    for depositor in depositors:
        assert depositor.settled
        held = stored_ids(client, depositor.pipeline)
        twice = [i for i, n in held.items() if n > 1]
        assert not twice, f"stored more than once: {twice[:10]}"
        lost = depositor.acked - set(held)
        assert not lost, f"{len(lost)} acknowledged results lost, e.g. {sorted(lost)[:5]}"
        assert set(held) == depositor.sent, "stored ids differ from the ids sent"
        count = client.post("/results/view/count", json={"query": {"pipeline": depositor.pipeline}})
        assert count.json() == len(depositor.sent)
