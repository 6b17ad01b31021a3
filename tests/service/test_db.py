"""The client Sluice opens (service.db.open_client): a pooled connection closed by the
far side while it sat idle (the embedded server's idle timeout, a load balancer, a NAT)
is not reused: after SLUICE_CONNECTION_MAX_IDLE_MS the driver opens a fresh one."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import IndexModel, MongoClient
from pymongo.errors import AutoReconnect

from service.db import Database
from service.settings import Settings

#: Seconds without traffic after which the proxy closes a connection. The driver's
#: monitors (a heartbeat every 0.5 s through the URI below) never go that long.
PROXY_IDLE = 2.0


class IdleDropper:
    """A TCP proxy to `target` that closes each connection (both ways, with a FIN)
    once no byte has crossed it for PROXY_IDLE seconds."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.dropped = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        last = time.monotonic()

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            nonlocal last
            while data := await source.read(65536):
                last = time.monotonic()
                sink.write(data)
                await sink.drain()

        pumps = [
            asyncio.ensure_future(pump(reader, upstream_writer)),
            asyncio.ensure_future(pump(upstream_reader, writer)),
        ]
        try:
            while not any(p.done() for p in pumps):
                await asyncio.sleep(0.1)
                if time.monotonic() - last > PROXY_IDLE:
                    self.dropped += 1
                    break
        finally:
            for each in pumps:
                each.cancel()
            for end in (writer, upstream_writer):
                end.close()
                with contextlib.suppress(OSError):
                    await end.wait_closed()


@pytest.fixture
async def proxy_uri(mongo_uri: str) -> AsyncIterator[tuple[str, IdleDropper]]:
    """A direct-connection URI to the primary through an `IdleDropper`."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as client:
        client.admin.command("ping")
        primary = client.address  # the primary of a replica set
    assert primary is not None
    proxy = IdleDropper(primary)
    port = await proxy.start()
    yield f"mongodb://127.0.0.1:{port}/?directConnection=true&heartbeatFrequencyMS=500", proxy
    await proxy.stop()


async def _index_after_idle(uri: str, max_idle_ms: int, proxy: IdleDropper) -> None:
    """createIndexes (which the driver never retries) once, then again on the same pool
    after its connection sat idle past PROXY_IDLE and the proxy closed it."""
    settings = Settings(
        mongodb_uri=uri,
        db_name=f"sluice_idle_{uuid.uuid4().hex[:8]}",
        connection_max_idle_ms=max_idle_ms,
    )
    database = Database(settings)
    try:
        collection = database.db["things"]
        await collection.create_indexes([IndexModel("a")])
        dropped = proxy.dropped
        await asyncio.sleep(PROXY_IDLE + 1.5)
        assert proxy.dropped > dropped, "the proxy closed no idle connection"
        await collection.create_indexes([IndexModel("b")])
    finally:
        await database.client.drop_database(settings.db_name)
        await database.close()


async def test_a_connection_closed_while_idle_is_not_reused(
    proxy_uri: tuple[str, IdleDropper],
) -> None:
    uri, proxy = proxy_uri
    await _index_after_idle(uri, 1000, proxy)


async def test_without_the_bound_the_closed_connection_fails_the_next_command(
    proxy_uri: tuple[str, IdleDropper],
) -> None:
    """What SLUICE_CONNECTION_MAX_IDLE_MS guards against (should this start failing, the
    driver has learnt to see such closes and the setting may go)."""
    uri, proxy = proxy_uri
    with pytest.raises(AutoReconnect) as caught:
        await _index_after_idle(uri, 0, proxy)
    assert "closed" in str(caught.value), caught.value
