"""A Sluice whose runs advance every 0.2 s, and an HTTP client for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from service.testing import SluiceProcess, SluiceStarter
from tests.service.workfiles.helpers import FAST


@pytest.fixture(scope="session")
def wf_sluice(start_session_sluice: SluiceStarter) -> SluiceProcess:
    return start_session_sluice("workfiles", **FAST)


@pytest.fixture
def wf(wf_sluice: SluiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=wf_sluice.url, timeout=30) as client:
        yield client


@pytest.fixture
def workspace() -> str:
    """A workspace no other test uses."""
    return f"ws-{uuid.uuid4().hex[:10]}"
