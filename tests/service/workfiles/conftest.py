"""A Sluice whose runs advance every 0.2 s, and an HTTP client for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.workfiles.helpers import fast_sluice


@pytest.fixture(scope="session")
def wf_sluice(
    sluice_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SluiceProcess]:
    with fast_sluice(sluice_env, tmp_path_factory.mktemp("workfiles")) as server:
        yield server


@pytest.fixture
def wf(wf_sluice: SluiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=wf_sluice.url, timeout=30) as client:
        yield client


@pytest.fixture
def workspace() -> str:
    """A workspace no other test uses."""
    return f"ws-{uuid.uuid4().hex[:10]}"
