"""Per-token request rate (SLUICE_RATE_LIMIT, SLUICE_RATE_BURST) and failed
authentications per client address (SLUICE_AUTH_FAILURE_RATE, _BURST): 429 with
Retry-After."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from service.auth.ratelimit import MAX_RETRY_AFTER, RateLimiter
from service.errors import RateLimited
from service.testing import SluiceProcess, SluiceStarter
from tests.service.auth.helpers import ADMIN_SECRET, create_token, secure_env, token_header


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimited) as caught:
        limiter.take("a")
    assert caught.value.headers == {"Retry-After": "1"}
    assert caught.value.details["limit"] == "SLUICE_RATE_LIMIT"
    limiter.take("b")  # per key
    clock.now += 0.5  # one request's worth
    limiter.take("a")
    with pytest.raises(RateLimited):
        limiter.take("a")
    clock.now += 60  # never more than the burst
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimited):
        limiter.take("a")


@pytest.fixture(scope="module")
def throttled(sluice_env: dict[str, str], start_module_sluice: SluiceStarter) -> SluiceProcess:
    env = secure_env(sluice_env, SLUICE_RATE_LIMIT="0.2", SLUICE_RATE_BURST="3")
    return start_module_sluice("throttled", **env)


def test_429_past_the_rate(throttled: SluiceProcess) -> None:
    first = token_header(create_token(throttled.url, ["read"]))
    second = token_header(create_token(throttled.url, ["read"]))
    with httpx.Client(base_url=throttled.url, timeout=30) as client:
        for _ in range(3):
            assert client.get("/results/status", headers=first).status_code == 200
        refused = client.get("/results/status", headers=first)
        assert refused.status_code == 429
        body = refused.json()["error"]
        assert body["code"] == "rate_limited" and "SLUICE_RATE_LIMIT" in body["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 5
        # Per token: another token has its own bucket; public routes are not limited.
        assert client.get("/results/status", headers=second).status_code == 200
        assert all(client.get("/healthz").status_code == 200 for _ in range(5))


def test_check_spends_nothing_and_spend_never_refuses() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock, settings=("SLUICE_X", "SLUICE_Y"))
    for _ in range(5):
        limiter.check("a")
    limiter.spend("a")
    limiter.spend("a")
    limiter.spend("a")  # already empty: stays empty
    with pytest.raises(RateLimited) as caught:
        limiter.check("a")
    assert caught.value.details["limit"] == "SLUICE_X"
    clock.now += 1
    limiter.check("a")


def test_reservations_hold_the_bucket_until_settled() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock)

    async def go() -> None:
        await limiter.reserve("a")
        await limiter.reserve("a")
        # Both held by checks still running: a third waits, then gives up with a 429.
        with pytest.raises(RateLimited):
            await limiter.reserve("a", patience=0.05)
        limiter.settle("a", failed=False)  # a right one spends nothing
        await limiter.reserve("a")
        limiter.settle("a", failed=True)
        limiter.settle("a", failed=True)
        with pytest.raises(RateLimited):  # both failed: the bucket is empty
            await limiter.reserve("a")

    asyncio.run(go())


def test_a_tiny_rate_waits_a_day_at_most() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1e-310, burst=1, clock=clock)
    limiter.take("a")
    with pytest.raises(RateLimited) as caught:  # Retry-After was ceil(inf): OverflowError
        limiter.take("a")
    assert caught.value.details["retry_after"] == MAX_RETRY_AFTER


def test_the_least_recently_used_key_is_forgotten_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.auth.ratelimit.MAX_KEYS", 3)
    clock = Clock()
    limiter = RateLimiter(rate=0.001, burst=1, clock=clock)
    for key in ("old", "b", "c"):
        limiter.spend(key)
    limiter.spend("old")  # still hammering: used last
    limiter.spend("d")  # one key too many: "b" goes, not "old"
    with pytest.raises(RateLimited):
        limiter.check("old")
    limiter.check("b")


@pytest.fixture(scope="module")
def guarded(sluice_env: dict[str, str], start_module_sluice: SluiceStarter) -> SluiceProcess:
    env = secure_env(sluice_env, SLUICE_AUTH_FAILURE_RATE="0.5", SLUICE_AUTH_FAILURE_BURST="3")
    return start_module_sluice("guarded", **env)


def test_failed_authentications_are_limited_per_address(guarded: SluiceProcess) -> None:
    right = token_header(ADMIN_SECRET)
    wrong = token_header(ADMIN_SECRET[:-1] + "?")
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        assert client.get("/admin/tokens", headers=right).status_code == 200
        for _ in range(3):
            assert client.get("/admin/tokens", headers=wrong).status_code == 401
        refused = client.get("/admin/tokens", headers=wrong)
        assert refused.status_code == 429
        assert "SLUICE_AUTH_FAILURE_RATE" in refused.json()["error"]["message"]
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        # Past the limit even the right secret is not tried: a guess cannot be confirmed.
        assert client.get("/admin/tokens", headers=right).status_code == 429
        # Missing tokens are no guesses; public routes are not limited.
        assert client.get("/results/status").status_code == 401
        assert client.get("/healthz").status_code == 200
    # Another client address has its own allowance.
    elsewhere = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=guarded.url, transport=elsewhere, timeout=30) as client:
        assert client.get("/admin/tokens", headers=right).status_code == 200
    time.sleep(retry_after)
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        assert client.get("/admin/tokens", headers=right).status_code == 200


def test_guesses_sent_at_once_are_limited_as_those_sent_one_by_one(
    guarded: SluiceProcess,
) -> None:
    # Each guess is counted before its check, not after: 30 at once all got a 401 (were
    # all checked) while the bucket still looked full.
    elsewhere = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
    wrong = token_header("slc_" + "x" * 40)

    async def all_at_once() -> list[int]:
        async with httpx.AsyncClient(base_url=guarded.url, transport=elsewhere, timeout=30) as c:
            answers = await asyncio.gather(*(c.get("/results/status", headers=wrong)
                                             for _ in range(30)))  # fmt: skip
        return sorted(answer.status_code for answer in answers)

    statuses = asyncio.run(all_at_once())
    assert statuses.count(401) <= 3 and statuses.count(429) >= 27, statuses
    # Right ones sent all at once (a token not read yet, so each is looked up) wait for
    # each other instead of being refused.
    token = token_header(create_token(guarded.url, ["read"]))
    fresh = httpx.AsyncHTTPTransport(local_address="127.0.0.5")

    async def right_ones() -> list[int]:
        async with httpx.AsyncClient(base_url=guarded.url, transport=fresh, timeout=30) as c:
            answers = await asyncio.gather(*(c.get("/results/status", headers=token)
                                             for _ in range(30)))  # fmt: skip
        return [answer.status_code for answer in answers]

    assert asyncio.run(right_ones()) == [200] * 30


def test_a_forwarded_for_header_is_no_other_client_unless_a_proxy_is_trusted(
    sluice_env: dict[str, str], start_sluice: SluiceStarter
) -> None:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: each spoofed address had
    # an allowance of its own. Without FORWARDED_ALLOW_IPS, Sluice reads none.
    env = secure_env(sluice_env, SLUICE_AUTH_FAILURE_RATE="0.5", SLUICE_AUTH_FAILURE_BURST="3")
    server = start_sluice("forwarded", **env)
    wrong = token_header("slc_" + "y" * 40)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        statuses = [
            client.get(
                "/results/status", headers={**wrong, "X-Forwarded-For": f"10.0.0.{n}"}
            ).status_code
            for n in range(8)
        ]
    assert statuses[:3] == [401] * 3 and statuses[3:] == [429] * 5, statuses
