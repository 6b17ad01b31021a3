"""Per-token request rate (SLUICE_RATE_LIMIT, SLUICE_RATE_BURST): 429 with Retry-After."""

from __future__ import annotations

import httpx
import pytest

from service.auth.ratelimit import RateLimiter
from service.errors import RateLimited
from service.testing import SluiceProcess, SluiceStarter
from tests.service.auth.helpers import create_token, secure_env, token_header


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
        limited = client.get("/results/status", headers=first)
        assert limited.status_code == 429
        body = limited.json()["error"]
        assert body["code"] == "rate_limited" and "SLUICE_RATE_LIMIT" in body["message"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 5
        # Per token: another token has its own bucket; public routes are not limited.
        assert client.get("/results/status", headers=second).status_code == 200
        assert all(client.get("/healthz").status_code == 200 for _ in range(5))
