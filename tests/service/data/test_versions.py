"""Versions of data sources against a running Sluice: a version only for changed
bytes, gap-free numbering under concurrent commits, bytes stored once and old
versions readable."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
from pymongo import MongoClient
from pymongo.synchronous.database import Database

from service.testing import SluiceProcess, SluiceStarter
from tests.service.data.conftest import commit, new_source


def numbers(client: httpx.Client, data_id: str) -> list[int]:
    answer = client.get(f"/aero/data/{data_id}/versions")
    assert answer.status_code == 200, answer.text
    return [item["version"] for item in answer.json()["items"]]


def test_identical_bytes_make_no_new_version(client: httpx.Client) -> None:
    data_id = new_source(client)
    first = commit(client, data_id, b"a,b\n1,2\n")
    assert first.status_code == 201
    assert first.json()["created"] is True
    again = commit(client, data_id, b"a,b\n1,2\n")
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["version"]["id"] == first.json()["version"]["id"]
    assert numbers(client, data_id) == [1]
    changed = commit(client, data_id, b"a,b\n1,3\n")
    assert changed.status_code == 201
    assert changed.json()["version"]["version"] == 2
    shown = client.get(f"/aero/data/{data_id}").json()
    assert shown["available_versions"] == 2
    assert shown["latest_version"] == 2


def test_a_then_b_then_a_is_three_versions(client: httpx.Client) -> None:
    data_id = new_source(client)
    for content in (b"A", b"B", b"A"):
        assert commit(client, data_id, content).status_code == 201
    assert numbers(client, data_id) == [1, 2, 3]
    version = client.get(f"/aero/data/{data_id}/versions/3").json()
    assert version["sha256"] == hashlib.sha256(b"A").hexdigest()
    assert version["checksum"] == hashlib.md5(b"A").hexdigest()
    assert version["size"] == 1


def test_sixteen_concurrent_commits_number_one_to_sixteen(
    client: httpx.Client, server: SluiceProcess
) -> None:
    data_id = new_source(client)

    async def all_at_once() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as each:
            answers = await asyncio.gather(
                *(
                    each.post(f"/aero/data/{data_id}/versions", content=f"row {n}".encode())
                    for n in range(16)
                )
            )
        assert [answer.status_code for answer in answers] == [201] * 16
        return [answer.json()["version"]["version"] for answer in answers]

    got = asyncio.run(all_at_once())
    assert sorted(got) == list(range(1, 17))
    assert numbers(client, data_id) == list(range(1, 17))
    contents = {
        client.get(f"/aero/data/{data_id}/versions/{n}/content").content for n in range(1, 17)
    }
    assert contents == {f"row {n}".encode() for n in range(16)}


def test_old_versions_stay_readable_and_bytes_are_stored_once(
    client: httpx.Client, server: SluiceProcess, mongo_uri: str
) -> None:
    first, second = new_source(client), new_source(client, "copy")
    content = b"x" * 600_000  # several GridFS chunks
    assert commit(client, first, content).status_code == 201
    assert commit(client, first, b"newer").status_code == 201
    assert commit(client, second, content).status_code == 201
    old = client.get(f"/aero/data/{first}/versions/1/content")
    assert old.status_code == 200
    assert old.content == content
    assert old.headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'
    unchanged = client.get(
        f"/aero/data/{first}/versions/1/content", headers={"if-none-match": old.headers["etag"]}
    )
    assert unchanged.status_code == 304
    database: Database[dict[str, Any]] = MongoClient(mongo_uri)[server.env["SLUICE_DB_NAME"]]
    sha = hashlib.sha256(content).hexdigest()
    assert database["aero_blobs.files"].count_documents({"metadata.sha256": sha}) == 1
    stored = database["aero_blobs.files"].find_one({"metadata.sha256": sha})
    assert stored is not None
    assert database["aero_blobs.chunks"].count_documents({"files_id": stored["_id"]}) == 3


def test_bad_input_is_a_4xx_and_changes_nothing(client: httpx.Client) -> None:
    data_id = new_source(client)
    assert client.post("/aero/data", json={"name": ""}).status_code == 400
    for url in ("ftp://h/x", "http://[::1", "http://h:abc/x", "http://h:70000/x", "http:///x"):
        refused = client.post("/aero/data", json={"name": "x", "url": url})
        assert refused.status_code == 400, (url, refused.text)
        assert refused.json()["error"]["details"] == {"field": "url"}
        patched = client.patch(f"/aero/data/{data_id}", json={"url": url})
        assert patched.status_code == 400, (url, patched.text)
    assert client.post("/aero/data", json={"name": "x", "tags": "a"}).status_code == 400
    assert client.post("/aero/data", json={"name": "x", "extra": 1}).status_code == 400
    assert client.post("/aero/data", json=[1]).status_code == 400
    assert commit(client, "no-such-id", b"x").status_code == 404
    assert client.get(f"/aero/data/{data_id}/versions/1").status_code == 404
    assert client.get(f"/aero/data/{data_id}/versions/one").status_code == 400
    assert client.get(f"/aero/data/{data_id}/versions/0").status_code == 400
    assert client.get("/aero/data/nothing").status_code == 404
    assert client.get(f"/aero/data/{data_id}/versions", params={"limit": 0}).status_code == 400
    assert numbers(client, data_id) == []


def test_concurrent_commits_through_two_replicas_stay_gap_free(
    start_sluice: SluiceStarter, client: httpx.Client, server: SluiceProcess
) -> None:
    # A second Sluice on the same database, without the per-process commit lock: only
    # the conditional update and the unique index keep the numbers right.
    other = start_sluice("replica", SLUICE_DB_NAME=server.env["SLUICE_DB_NAME"],
                         SLUICE_SERIALIZE_CLAIMS="0")  # fmt: skip
    data_id = new_source(client)

    async def all_at_once() -> list[httpx.Response]:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=120) as one,
            httpx.AsyncClient(base_url=other.url, timeout=120) as two,
        ):
            return await asyncio.gather(
                *(
                    (one if n % 2 else two).post(
                        f"/aero/data/{data_id}/versions", content=f"replica {n}".encode()
                    )
                    for n in range(16)
                )
            )

    answers = asyncio.run(all_at_once())
    assert [answer.status_code for answer in answers] == [201] * 16
    assert sorted(a.json()["version"]["version"] for a in answers) == list(range(1, 17))
    assert numbers(client, data_id) == list(range(1, 17))


def test_a_version_is_stored_with_a_media_type_or_refused(client: httpx.Client) -> None:
    data_id = new_source(client)
    versions = f"/aero/data/{data_id}/versions"
    # What becomes the download's Content-Type must be one: a line break would break it.
    for params, headers, field in (
        ({"file_type": "text/plain\r\nX-Injected: 1"}, {}, "file_type"),
        ({"file_type": "plain"}, {}, "file_type"),
        ({}, {"content-type": "text/plain x"}, "content-type"),
    ):
        answer = client.post(versions, params=params, headers=headers, content=b"x")
        assert answer.status_code == 400, (params, headers, answer.text)
        assert answer.json()["error"]["details"] == {"field": field}
    assert numbers(client, data_id) == []
    for params, headers, stored in (
        ({}, {}, "application/octet-stream"),
        ({}, {"content-type": "text/csv; charset=utf-8"}, "text/csv"),
        ({"file_type": "application/vnd.apache.parquet"}, {}, "application/vnd.apache.parquet"),
    ):
        made = client.post(versions, params=params, headers=headers, content=stored.encode())
        assert made.status_code == 201, made.text
        assert made.json()["version"]["data_file"]["file_type"] == stored
        number = made.json()["version"]["version"]
        download = client.get(f"{versions}/{number}/content")
        assert download.status_code == 200
        assert download.headers["content-type"].split(";")[0] == stored
