"""Ingestion from a local HTTP server (loopback is allowed in these tests through
SLUICE_AERO_INGEST_HOSTS): conditional GETs, changed and unchanged content, non-2xx
answers, hosts that are not allowed (also behind a redirect), oversize bodies, and
keyed re-ingestions."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.data.conftest import new_source


@dataclass
class Upstream:
    """What the local server answers on each path, and the headers it was sent."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)
    #: Seconds the server waits before answering a path.
    delays: dict[str, float] = field(default_factory=dict)
    port: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    state = Upstream()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append({k.lower(): v for k, v in self.headers.items()})
            time.sleep(state.delays.get(self.path, 0))
            status, headers, body = state.routes.get(self.path, (404, {}, b"missing"))
            etag = headers.get("ETag")
            if etag is not None and self.headers.get("If-None-Match") == etag:
                status, body = 304, b""
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                return  # the fetch gave up first (the timeout test)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def ingest(client: httpx.Client, data_id: str, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/aero/data/{data_id}/ingest", json=body)
    assert answer.status_code in (200, 201), answer.text
    result: dict[str, Any] = answer.json()
    assert (answer.status_code == 201) == (result["status"] == "created")
    return result


def versions(client: httpx.Client, data_id: str) -> int:
    total: int = client.get(f"/aero/data/{data_id}/versions").json()["total"]
    return total


def test_etag_unchanged_changed_and_500(client: httpx.Client, upstream: Upstream) -> None:
    upstream.routes["/cases.csv"] = (200, {"ETag": '"v1"', "Content-Type": "text/csv"}, b"a\n1\n")
    data_id = new_source(client, "cases", url=upstream.url("/cases.csv"))
    first = ingest(client, data_id)
    assert first["status"] == "created"
    assert first["version"]["version"] == 1
    assert first["version"]["data_file"]["file_type"] == "text/csv"
    content = client.get(f"/aero/data/{data_id}/versions/1/content")
    assert content.content == b"a\n1\n"
    # Same ETag: the server answers 304 to the conditional GET, nothing is downloaded.
    again = ingest(client, data_id)
    assert again["status"] == "unchanged" and again["http_status"] == 304
    assert upstream.seen[-1]["if-none-match"] == '"v1"'
    assert versions(client, data_id) == 1
    # A new ETag but the same bytes: still no version.
    upstream.routes["/cases.csv"] = (200, {"ETag": '"v2"'}, b"a\n1\n")
    assert ingest(client, data_id)["status"] == "unchanged"
    upstream.routes["/cases.csv"] = (200, {"ETag": '"v3"'}, b"a\n1\n2\n")
    changed = ingest(client, data_id)
    assert changed["status"] == "created" and changed["version"]["version"] == 2
    upstream.routes["/cases.csv"] = (500, {}, b"<html>server error</html>")
    failed = ingest(client, data_id, force=True)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "http_status" and failed["http_status"] == 500
    assert versions(client, data_id) == 2


def test_an_upstream_media_type_that_is_none_is_stored_as_the_default(
    client: httpx.Client, upstream: Upstream
) -> None:
    upstream.routes["/odd"] = (200, {"Content-Type": "comma,separated"}, b"odd")
    data_id = new_source(client, "odd", url=upstream.url("/odd"))
    made = ingest(client, data_id)
    assert made["status"] == "created"
    assert made["version"]["data_file"]["file_type"] == "application/octet-stream"
    content = client.get(f"/aero/data/{data_id}/versions/1/content")
    assert content.headers["content-type"] == "application/octet-stream"


def test_last_modified_is_sent_back(client: httpx.Client, upstream: Upstream) -> None:
    stamp = "Tue, 01 Dec 2026 10:00:00 GMT"
    upstream.routes["/lm"] = (200, {"Last-Modified": stamp}, b"dated")
    data_id = new_source(client, "dated", url=upstream.url("/lm"))
    assert ingest(client, data_id)["status"] == "created"
    ingest(client, data_id)
    assert upstream.seen[-1]["if-modified-since"] == stamp


def test_hosts_outside_the_setting_are_refused(client: httpx.Client, upstream: Upstream) -> None:
    upstream.routes["/ok"] = (200, {}, b"fine")
    other = new_source(client, "elsewhere", url=upstream.url("/ok", host="localhost"))
    refused = ingest(client, other)
    assert refused["status"] == "failed" and refused["error"]["code"] == "host_not_allowed"
    assert "SLUICE_AERO_INGEST_HOSTS" in refused["error"]["message"]
    # A redirect from an allowed host to one that is not: refused at the hop.
    upstream.routes["/jump"] = (302, {"Location": upstream.url("/ok", host="localhost")}, b"")
    jumping = new_source(client, "jump", url=upstream.url("/jump"))
    hop = ingest(client, jumping)
    assert hop["status"] == "failed" and hop["error"]["code"] == "host_not_allowed"
    # A redirect within allowed hosts is followed.
    upstream.routes["/near"] = (301, {"Location": "/ok"}, b"")
    near = new_source(client, "near", url=upstream.url("/near"))
    followed = ingest(client, near)
    assert followed["status"] == "created"
    assert followed["url"] == upstream.url("/ok")
    assert versions(client, other) == versions(client, jumping) == 0


def test_redirect_loops_oversize_and_no_url_fail_cleanly(
    client: httpx.Client, upstream: Upstream
) -> None:
    upstream.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    loop = new_source(client, "loop", url=upstream.url("/loop"))
    assert ingest(client, loop)["error"]["code"] == "too_many_redirects"
    upstream.routes["/big"] = (200, {}, b"x" * 100_001)  # SLUICE_AERO_INGEST_MAX_BYTES=100000
    big = new_source(client, "big", url=upstream.url("/big"))
    too_large = ingest(client, big)
    assert too_large["error"]["code"] == "too_large"
    bare = new_source(client, "no url")
    assert ingest(client, bare)["error"]["code"] == "no_url"
    assert versions(client, loop) == versions(client, big) == versions(client, bare) == 0
    assert client.post("/aero/data/nope/ingest", json={}).status_code == 404
    data_id = new_source(client, "bad body")
    assert client.post(f"/aero/data/{data_id}/ingest", json={"force": "yes"}).status_code == 400
    assert client.post(f"/aero/data/{data_id}/ingest", json={"other": 1}).status_code == 400


def test_a_keyed_ingestion_retried_yields_one_version(
    client: httpx.Client, upstream: Upstream
) -> None:
    upstream.routes["/keyed"] = (200, {}, b"first")
    data_id = new_source(client, "keyed", url=upstream.url("/keyed"))
    first = ingest(client, data_id, commit_key="run-1:out", run_id="run-1")
    assert first["status"] == "created"
    assert first["version"]["run_id"] == "run-1"
    upstream.routes["/keyed"] = (200, {}, b"second")
    fetched = len(upstream.seen)
    retried = ingest(client, data_id, commit_key="run-1:out", run_id="run-1")
    assert retried["status"] == "created"
    assert retried["version"]["id"] == first["version"]["id"]
    assert len(upstream.seen) == fetched  # answered from the record, no fetch
    assert versions(client, data_id) == 1
    assert ingest(client, data_id, commit_key="run-2:out")["version"]["version"] == 2


def test_one_keyed_ingestion_retried_at_once_commits_once(
    client: httpx.Client, upstream: Upstream, server: SluiceProcess
) -> None:
    upstream.routes["/racing"] = (200, {}, b"raced")
    data_id = new_source(client, "racing", url=upstream.url("/racing"))

    async def all_at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as each:
            path, body = f"/aero/data/{data_id}/ingest", {"commit_key": "run-9:out"}
            return await asyncio.gather(*(each.post(path, json=body) for _ in range(6)))

    answers = asyncio.run(all_at_once())
    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.json()["version"]["id"] for answer in answers}) == 1
    assert versions(client, data_id) == 1


def test_a_hung_upstream_times_out_without_stalling_other_requests(
    client: httpx.Client, upstream: Upstream, server: SluiceProcess
) -> None:
    upstream.routes["/slow"] = (200, {}, b"late")
    upstream.delays["/slow"] = 8  # past SLUICE_AERO_INGEST_TIMEOUT=5
    data_id = new_source(client, "slow", url=upstream.url("/slow"))
    outcome: list[dict[str, Any]] = []
    fetching = threading.Thread(target=lambda: outcome.append(ingest(client, data_id)))
    fetching.start()
    time.sleep(0.5)
    with httpx.Client(base_url=server.url, timeout=2) as other:  # answers within 2 s
        assert other.get(f"/aero/data/{data_id}").status_code == 200
    fetching.join()
    assert outcome[0]["status"] == "failed" and outcome[0]["error"]["code"] == "timeout"
    assert versions(client, data_id) == 0
