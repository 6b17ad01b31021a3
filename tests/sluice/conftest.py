"""Clients bound to the session's running Sluice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from sluice import AsyncResults, Results


@pytest.fixture
def results(base_url: str) -> Iterator[Results]:
    with Results(base_url) as client:
        yield client


@pytest.fixture
async def aresults(base_url: str) -> AsyncIterator[AsyncResults]:
    async with AsyncResults(base_url) as client:
        yield client
