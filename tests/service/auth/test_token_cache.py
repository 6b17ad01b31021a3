"""The token cache (SLUICE_AUTH_CACHE_SECONDS): a revoked token stops working at once on
the replica that revoked it and within the cache's bound on another one."""

from __future__ import annotations

import time

import httpx

from service.testing import SluiceStarter
from tests.service.auth.helpers import ADMIN_SECRET, create_token, secure_env, token_header

#: The cache's bound in this test: short, so waiting it out is cheap.
CACHE_SECONDS = 1.0
#: What the bound may be overrun by: a request's own time on a loaded machine.
SLACK = 2.0


def test_a_revoked_token_stops_working_within_the_bound_on_another_replica(
    start_sluice: SluiceStarter, sluice_env: dict[str, str]
) -> None:
    env = secure_env(sluice_env, SLUICE_AUTH_CACHE_SECONDS=str(CACHE_SECONDS))
    first, second = start_sluice("first", **env), start_sluice("second", **env)
    secret = create_token(first.url, ["read"], name="cached")
    with (
        httpx.Client(base_url=first.url, headers=token_header(secret), timeout=30) as one,
        httpx.Client(base_url=second.url, headers=token_header(secret), timeout=30) as two,
    ):
        # Both replicas accept it (and keep its record).
        assert one.get("/buckets/status").status_code == 200
        assert two.get("/buckets/status").status_code == 200
        revoked = httpx.post(
            f"{first.url}/admin/tokens/cached/revoke", headers=token_header(ADMIN_SECRET)
        )
        assert revoked.status_code == 200
        since = time.monotonic()
        answer = one.get("/buckets/status")
        assert answer.status_code == 401
        assert answer.json()["error"]["details"]["reason"] == "revoked"
        while (status := two.get("/buckets/status").status_code) == 200:
            assert time.monotonic() - since <= CACHE_SECONDS + SLACK, "still accepted"
            time.sleep(0.05)
        assert status == 401
        # And it stays refused.
        time.sleep(CACHE_SECONDS)
        assert two.get("/buckets/status").status_code == 401


def test_without_the_cache_a_revocation_is_seen_at_once_everywhere(
    start_sluice: SluiceStarter, sluice_env: dict[str, str]
) -> None:
    env = secure_env(sluice_env, SLUICE_AUTH_CACHE_SECONDS="0")
    first, second = start_sluice("first", **env), start_sluice("second", **env)
    secret = create_token(first.url, ["read"], name="uncached")
    with httpx.Client(base_url=second.url, headers=token_header(secret), timeout=30) as two:
        assert two.get("/buckets/status").status_code == 200
        revoked = httpx.post(
            f"{first.url}/admin/tokens/uncached/revoke", headers=token_header(ADMIN_SECRET)
        )
        assert revoked.status_code == 200
        assert two.get("/buckets/status").status_code == 401
