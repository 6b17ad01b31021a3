"""A Sluice whose runs and leaderboards advance every 0.2 s, a worker, an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from service.testing import SluiceProcess, SluiceStarter
from tests.service.workfiles.helpers import FAST
from tests.sluice.buckets.conftest import start_worker

__all__ = ["start_worker"]

LEADERBOARD_FAST = {**FAST, "SLUICE_LEADERBOARD_INTERVAL": "0.2"}


@pytest.fixture(scope="module")
def lb_sluice(start_module_sluice: SluiceStarter) -> SluiceProcess:
    return start_module_sluice("leaderboards", **LEADERBOARD_FAST)


@pytest.fixture
def lb(lb_sluice: SluiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lb_sluice.url + "/leaderboards", timeout=30) as client:
        yield client
