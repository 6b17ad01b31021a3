"""The client Sluice opens (service.db.open_client): a pooled connection closed by the
far side while it sat idle (the embedded server's idle timeout, a load balancer, a NAT)
is not reused: after SLUICE_CONNECTION_MAX_IDLE_MS the driver opens a fresh one."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import IndexModel, MongoClient
from pymongo.errors import AutoReconnect

from service.db import Database
from service.settings import Settings

#: Seconds a connection must have carried nothing for the proxy to close it: more than
#: the driver's monitors ever wait between heartbeats (every 0.5 s through the URI below).
IDLE = 1.0


class IdleDropper:
    """A TCP proxy to `target`; `drop_idle()` closes (both ways, with a FIN) each
    connection that has carried nothing for IDLE seconds, as an idle timeout does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server: asyncio.Server | None = None
        #: The moment each open connection last carried a byte, and its two ends.
        self.open: dict[int, tuple[float, list[asyncio.StreamWriter]]] = {}

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def drop_idle(self) -> int:
        """Close every connection idle for IDLE seconds; how many there were."""
        now = time.monotonic()
        idle = [key for key, (last, _) in self.open.items() if now - last > IDLE]
        for key in idle:
            for end in self.open.pop(key)[1]:
                end.close()
        return len(idle)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        key = id(writer)
        ends = [writer, upstream_writer]
        self.open[key] = (time.monotonic(), ends)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if key in self.open:
                    self.open[key] = (time.monotonic(), ends)
                sink.write(data)
                await sink.drain()

        try:
            await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))
        except OSError:
            pass  # one end dropped
        finally:
            self.open.pop(key, None)
            for end in ends:
                end.close()


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
    after its connection sat idle past IDLE and the proxy closed it."""
    settings = Settings(
        mongodb_uri=uri,
        db_name=f"sluice_idle_{uuid.uuid4().hex[:8]}",
        connection_max_idle_ms=max_idle_ms,
    )
    database = Database(settings)
    try:
        collection = database.db["things"]
        await collection.create_indexes([IndexModel("a")])
        await asyncio.sleep(IDLE + 0.5)
        assert proxy.drop_idle() == 1, "not just the pool's connection was idle"
        await asyncio.sleep(0.2)  # the close has reached the driver's socket
        await collection.create_indexes([IndexModel("b")])
    finally:
        await database.client.drop_database(settings.db_name)
        await database.close()


async def test_a_connection_closed_while_idle_is_not_reused(
    proxy_uri: tuple[str, IdleDropper],
) -> None:
    uri, proxy = proxy_uri
    await _index_after_idle(uri, int(IDLE * 1000), proxy)


async def test_without_the_bound_the_closed_connection_fails_the_next_command(
    proxy_uri: tuple[str, IdleDropper],
) -> None:
    """What SLUICE_CONNECTION_MAX_IDLE_MS guards against (should this start failing, the
    driver has learnt to see such closes and the setting may go)."""
    uri, proxy = proxy_uri
    with pytest.raises(AutoReconnect) as caught:
        await _index_after_idle(uri, 0, proxy)
    assert "closed" in str(caught.value), caught.value
