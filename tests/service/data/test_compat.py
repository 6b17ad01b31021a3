"""The AERO-compatible data routes as the AERO client calls them (request and
answer shapes from the spec's §3.1-3.3): listings 15 a page to the 404 end marker,
repeated slashes, `/latest` for both client generations, reference-only versions,
AERO-readable errors."""

from __future__ import annotations

from typing import Any

import httpx

from service.testing import SluiceStarter
from tests.service.data.conftest import commit, new_source

AERO = "/osprey/api/v1.0"


def aero_pages(client: httpx.Client, kind: str) -> list[Any]:
    """What the AERO client's `list_metadata(kind)` yields: each page's body while the
    previous one was 200, the first non-200 body included."""
    pages = []
    answer = client.get(f"{AERO}/{kind}")
    pages.append(answer.json())
    page = 1
    while answer.status_code == 200:
        page += 1
        assert page < 100, "the listing never ends"
        answer = client.get(f"{AERO}/{kind}", params={"page": page})
        pages.append(answer.json())
    return pages


def test_listing_is_15_a_page_and_ends_with_a_404(start_sluice: SluiceStarter) -> None:
    server = start_sluice("aero-list")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get(f"{AERO}/data").json() == []  # page 1 of nothing: 200 []
        made = [new_source(client, f"source {n}") for n in range(32)]
        pages = aero_pages(client, "data")
        assert [len(page) for page in pages[:3]] == [15, 15, 2]
        assert pages[3]["code"] == 404 and "past the end" in pages[3]["message"]
        assert pages[3]["error"]["code"] == "not_found"
        listed = [item["id"] for page in pages[:3] for item in page]
        assert listed == list(reversed(made))  # newest first, each once
        keys = list(pages[0][0])
        assert keys[:7] == ["id", "name", "url", "collection_uuid", "collection_url",
                            "description", "available_versions"]  # fmt: skip
        trailing = client.get(f"{AERO}/data/", params={"per_page": 40})
        assert trailing.status_code == 200 and len(trailing.json()) == 32
        capped = client.get(f"{AERO}/data", params={"per_page": 10_000}).json()
        assert len(capped) == 32  # clamped to SLUICE_AERO_PAGE_SIZE_MAX (100)
        fork = client.get(f"{AERO}/data", params={"offset": 30, "limit": 15})
        assert fork.status_code == 200 and len(fork.json()) == 2
        assert client.get(f"{AERO}/data", params={"offset": 99}).json() == []
        for bad in ({"page": "x"}, {"page": 0}, {"per_page": 0}, {"limit": -1}):
            answer = client.get(f"{AERO}/data", params=bad)
            assert answer.status_code == 400, bad
            assert answer.json()["code"] == 400


def test_data_and_versions_in_aero_shapes(client: httpx.Client) -> None:
    created = client.post(
        f"{AERO}//data/",
        json={"name": "wastewater", "description": "site A", "collection_uuid": "c-1",
              "collection_url": "https://g.example/c1/"},
    )  # fmt: skip
    assert created.status_code == 200, created.text
    data = created.json()
    assert data["collection_uuid"] == "c-1" and data["available_versions"] == 0
    data_id = data["id"]
    missing = client.get(f"{AERO}//data/{data_id}/latest")
    assert missing.status_code == 404
    assert missing.json()["message"] == "No versions exist for this data ID"
    assert commit(client, data_id, b"v1").status_code == 201
    assert commit(client, data_id, b"v2").status_code == 201
    latest = client.get(f"{AERO}//data/{data_id}/latest").json()
    assert latest["version"] == 2 and latest["data_version"]["version"] == 2
    assert latest["code"] == 200
    assert latest["data"]["id"] == data_id
    assert latest["data_file"]["file_size"] == 2
    assert latest["data_file"]["collection_url"] == "https://g.example/c1/"
    assert latest["created_at"].endswith("Z")
    assert latest["content_url"] == f"/aero/data/{data_id}/versions/2/content"
    versions = client.get(f"{AERO}/data/{data_id}/versions").json()
    assert [v["version"] for v in versions] == [1, 2]
    one = client.get(f"{AERO}//data/{data_id}/file", params={"version": 1}).json()
    assert one["version"] == 1
    assert client.get(f"{AERO}//data/{data_id}/file").json()["version"] == 2
    assert client.get(f"{AERO}/data/{data_id}/file", params={"version": 9}).status_code == 404
    assert client.get(f"{AERO}/data/{data_id}/file", params={"version": "x"}).status_code == 400
    gone = client.get(f"{AERO}/data/nope")
    assert gone.status_code == 404 and gone.json()["code"] == 404
    assert gone.headers["content-type"] == "application/json"


def test_new_version_records_a_reference_unless_unchanged(client: httpx.Client) -> None:
    data_id = new_source(client, "reference")
    body = {"file": "a1b2.csv", "file_format": ["text/csv", None], "checksum": "abc123",
            "size": 10}  # fmt: skip
    first = client.post(f"{AERO}//data/{data_id}/new-version", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    assert first.json()["data_file"]["file_name"] == "a1b2.csv"
    assert first.json()["data_file"]["file_type"] == "text/csv"
    assert first.json()["content_url"] is None
    again = client.post(f"{AERO}//data/{data_id}/new-version", json=body)
    assert again.status_code == 200
    assert again.json()["code"] == 201 and again.json()["message"] == "Version already exists"
    assert again.json()["version"]["version"] == 1
    changed = client.post(f"{AERO}/data/{data_id}/new-version", json={**body, "checksum": "d"})
    assert changed.json()["version"] == 2
    for bad in ({**body, "checksum": ""}, {**body, "size": -1}, {**body, "x": 1}, {"file": "a"},
                {**body, "file_format": "text/csv\r\nX-Injected: 1"},
                {**body, "file_format": ["csv", None]}, {**body, "file_format": 7}):  # fmt: skip
        answer = client.post(f"{AERO}/data/{data_id}/new-version", json=bad)
        assert answer.status_code == 400, bad
    assert client.post(f"{AERO}/data/nope/new-version", json=body).status_code == 404
    assert client.get(f"/aero/data/{data_id}/versions/1/content").status_code == 400


def test_the_surface_may_be_served_at_the_root(start_sluice: SluiceStarter) -> None:
    server = start_sluice("aero-root", SLUICE_AERO_PREFIX="/")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        # A full URL: a path starting with // alone would name a host.
        made = client.post(f"{server.url}//data/", json={"name": "at the root"})
        assert made.status_code == 200, made.text
        assert [item["id"] for item in client.get("/data").json()] == [made.json()["id"]]
        assert client.get("/data", params={"page": 2}).json()["code"] == 404
        assert client.get("/osprey/api/v1.0/data").status_code == 404
        assert client.get("/healthz").status_code == 200
