"""Many workers claiming from one database through two Sluice processes.

2,000 works of mixed priorities in eight pipelines of 250; sixteen withdrawers, two per
pipeline, one through each of the two Sluice processes. Every work is claimed exactly
once, and no claim answered before another was sent got a lower-ranked work.
"""

from __future__ import annotations

import bisect
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.buckets.helpers import deposit, new_work

WORKS = 2000
PIPELINES = 8
WITHDRAWERS = 16


@dataclass(frozen=True)
class Claim:
    """One withdraw as a worker saw it: when it was sent and answered, and what it got."""

    sent: float
    answered: float
    id: str
    priority: int
    creation: float

    @property
    def order(self) -> tuple[int, float]:
        """Rank in the claim order: higher priority first, then older."""
        return (-self.priority, self.creation)


def _withdrawer(url: str, pipeline: str, claims: list[Claim], errors: list[BaseException]) -> None:
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            while True:
                sent = time.perf_counter()
                response = http.post(
                    "/buckets/work/withdraw", json={"pipeline": {"$in": [pipeline]}}
                )
                answered = time.perf_counter()
                response.raise_for_status()
                work = response.json()
                if not work:
                    return
                claims.append(Claim(sent, answered, work["id"], work["priority"], work["creation"]))
    except BaseException as exc:
        errors.append(exc)


def _assert_claim_order(claims: list[Claim]) -> None:
    """If claim X was answered before claim Y was sent, X's work ranks no lower than Y's.

    Claims that overlap in time may commit in either order, so nothing stronger holds.
    For those that do not, X committed first, and took the best queued work while Y's
    work was queued too, so Y's work cannot rank above X's.
    """
    by_answer = sorted(claims, key=lambda c: c.answered)
    answered = [c.answered for c in by_answer]
    lowest: list[tuple[int, float]] = []  # lowest-ranked work among the first k answered
    for claim in by_answer:
        lowest.append(max(claim.order, lowest[-1]) if lowest else claim.order)
    for claim in claims:
        before = bisect.bisect_left(answered, claim.sent)
        if before:
            assert lowest[before - 1] <= claim.order, (claim, lowest[before - 1])


@pytest.mark.slow
def test_concurrent_withdraws_claim_each_work_once_in_order(
    own_mongo_uri: str, start_sluice: Callable[..., SluiceProcess], db_name: str, pipeline: str
) -> None:
    # Thousands of claims: on a database server of the test's own (tests/conftest.py),
    # set up before the Sluices so that it stops after them.
    servers = [
        start_sluice(db_name, MONGODB_URI=own_mongo_uri, SLUICE_REAPER_INTERVAL="0")
        for _ in range(2)
    ]
    pipelines = [f"{pipeline}-{n}" for n in range(PIPELINES)]
    rng = random.Random(7)
    batch = [new_work(pipelines[n % PIPELINES], priority=rng.randint(1, 5)) for n in range(WORKS)]
    with httpx.Client(base_url=servers[0].url, timeout=60) as http:
        ids = []
        for start in range(0, WORKS, 500):
            ids += deposit(http, batch[start : start + 500])
    assert len(set(ids)) == WORKS

    claims: dict[str, list[Claim]] = {p: [] for p in pipelines}
    errors: list[BaseException] = []
    # Withdrawer n claims from pipeline n % PIPELINES, through the servers in turn.
    assignments = [
        (servers[n // PIPELINES % 2], pipelines[n % PIPELINES]) for n in range(WITHDRAWERS)
    ]
    threads = [
        threading.Thread(target=_withdrawer, args=(server.url, name, claims[name], errors))
        for server, name in assignments
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    assert not errors, errors

    # Exactly once: every work claimed, none twice.
    assert sorted(c.id for p in pipelines for c in claims[p]) == sorted(ids)
    for pipeline_claims in claims.values():
        _assert_claim_order(pipeline_claims)
    print(f"{WORKS} claims by {WITHDRAWERS} withdrawers in {elapsed:.1f}s")
