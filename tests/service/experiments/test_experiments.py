"""Experiment records over HTTP: EIDs, metadata, tags, search; bad input writes nothing."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from service.testing import SluiceStarter
from tests.service.experiments.lab import Lab


def create(http: httpx.Client, title: str = "run", description: str = "") -> dict[str, Any]:
    response = http.post("/experiments", json={"title": title, "description": description})
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_create_get_by_eid_and_uuid(lab_http: httpx.Client) -> None:
    record = create(lab_http, "Cooldown", "second run")
    today = datetime.now(UTC).strftime("%Y%m%d")
    assert re.fullmatch(rf"{today}-\d+", record["eid"])
    assert record["tags"] == [] and record["files"] == []
    assert record["created_at"] == record["updated_at"]
    for ref in (record["eid"], record["uuid"]):
        assert lab_http.get(f"/experiments/{ref}").json() == record


def test_setters_bump_updated_at(lab_http: httpx.Client) -> None:
    record = create(lab_http)
    changed = lab_http.patch(f"/experiments/{record['eid']}", json={"title": "renamed"}).json()
    assert changed["title"] == "renamed" and changed["description"] == ""
    assert changed["updated_at"] > record["updated_at"]
    again = lab_http.patch(f"/experiments/{record['uuid']}", json={"description": "d"}).json()
    assert again["title"] == "renamed" and again["description"] == "d"


async def fifty_concurrent_creates(url: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        return await asyncio.gather(
            *(http.post("/experiments", json={"title": f"c{i}"}) for i in range(50))
        )


def assert_distinct_gap_free(answers: list[httpx.Response], first: int | None = None) -> None:
    assert [a.status_code for a in answers] == [201] * 50, [a.text for a in answers]
    numbers = sorted(int(a.json()["eid"].split("-")[1]) for a in answers)
    start = numbers[0] if first is None else first
    assert numbers == list(range(start, start + 50))


async def test_fifty_concurrent_creates_get_distinct_gap_free_eids(lab: Lab) -> None:
    assert_distinct_gap_free(await fifty_concurrent_creates(lab.url))


@pytest.mark.slow
async def test_fifty_concurrent_first_creates_of_the_day_on_fresh_databases(
    own_mongo_uri: str, start_sluice: SluiceStarter
) -> None:
    # The first creates of a day race to create its counter; on a fresh database (each
    # Sluice the starter starts has its own) every repetition starts from no counter.
    # Ten Sluices create their indexes: on a database server of the test's own (set up
    # first, so that it stops after them).
    for _ in range(10):
        server = start_sluice("eid", MONGODB_URI=own_mongo_uri)
        try:
            assert_distinct_gap_free(await fifty_concurrent_creates(server.url), first=1)
        finally:
            server.stop()


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x" * 257},
        {"title": "ok", "description": "d" * 5001},
        {"title": 5},
        {"title": "ok", "extra": 1},
        {},
    ],
)
def test_bad_create_writes_nothing(lab_http: httpx.Client, body: dict[str, Any]) -> None:
    before = lab_http.get("/experiments", params={"limit": 1}).json()["total"]
    response = lab_http.post("/experiments", json=body)
    assert response.status_code == 422 and error_code(response) == "validation_failed"
    assert lab_http.get("/experiments", params={"limit": 1}).json()["total"] == before


def test_limits_at_the_edge_are_accepted(lab_http: httpx.Client) -> None:
    record = create(lab_http, "t" * 256, "d" * 5000)
    assert len(record["title"]) == 256


def test_unknown_and_malformed_references(lab_http: httpx.Client) -> None:
    assert lab_http.get("/experiments/19990101-1").status_code == 404
    assert lab_http.get(f"/experiments/{uuid.uuid4()}").status_code == 404
    response = lab_http.get("/experiments/not-an-id")
    assert response.status_code == 400 and error_code(response) == "bad_request"
    assert lab_http.patch("/experiments/19990101-1", json={"title": "x"}).status_code == 404
    assert lab_http.delete("/experiments/19990101-1").status_code == 404
    assert lab_http.patch("/experiments/19990101-1", json={"title": "x" * 300}).status_code == 422
    nothing = lab_http.patch(f"/experiments/{create(lab_http)['eid']}", json={})
    assert nothing.status_code == 400


def test_tags_case_insensitive_first_spelling_and_removal(lab_http: httpx.Client) -> None:
    record = create(lab_http)
    ref = record["eid"]
    cryo, run = f"Cryo-{uuid.uuid4().hex[:6]}", f"run:3/b_x-{uuid.uuid4().hex[:6]}"
    tagged = lab_http.post(f"/experiments/{ref}/tags", json={"tags": [cryo, run]})
    assert tagged.json()["tags"] == [cryo, run]
    again = lab_http.post(f"/experiments/{ref}/tags", json={"tags": [cryo.upper()]}).json()
    assert again["tags"] == [cryo, run]
    # Another experiment's tag keeps the first spelling too.
    other = create(lab_http)["eid"]
    elsewhere = lab_http.post(f"/experiments/{other}/tags", json={"tags": [cryo.lower()]})
    assert elsewhere.json()["tags"] == [cryo]
    found = lab_http.get("/experiments", params={"tags": cryo.upper()}).json()
    assert found["total"] == 2
    counts = {c["tag"]: c["count"] for c in lab_http.get("/experiments/tags").json()}
    assert counts[cryo] == 2
    assert lab_http.delete(f"/experiments/{ref}/tags/{cryo.swapcase()}").json()["tags"] == [run]
    absent = lab_http.delete(f"/experiments/{ref}/tags/{cryo.lower()}")
    assert absent.status_code == 404 and error_code(absent) == "not_found"
    # A tag holding a "/" is removed too, sent as is or encoded (as the SDK sends it).
    for sent in (run, quote(run, safe="")):
        lab_http.post(f"/experiments/{ref}/tags", json={"tags": [run]})
        removed = lab_http.delete(f"/experiments/{ref}/tags/{sent}")
        assert removed.status_code == 200 and removed.json()["tags"] == [], removed.text


@pytest.mark.parametrize("bad", ["has space", "x" * 65, "", "semi;colon", "ünï", "line\n"])
def test_invalid_tags_write_nothing(lab_http: httpx.Client, bad: str) -> None:
    record = create(lab_http)
    response = lab_http.post(f"/experiments/{record['eid']}/tags", json={"tags": ["ok", bad]})
    assert response.status_code in (400, 422)
    assert lab_http.get(f"/experiments/{record['eid']}").json()["tags"] == []


def test_at_most_64_tags(lab_http: httpx.Client) -> None:
    ref = create(lab_http)["eid"]
    tags = [f"t{i}" for i in range(64)]
    assert lab_http.post(f"/experiments/{ref}/tags", json={"tags": tags}).status_code == 200
    response = lab_http.post(f"/experiments/{ref}/tags", json={"tags": ["one-more"]})
    assert response.status_code == 409
    assert len(lab_http.get(f"/experiments/{ref}").json()["tags"]) == 64
    # Tags already carried fit whatever the count.
    assert lab_http.post(f"/experiments/{ref}/tags", json={"tags": ["T1"]}).status_code == 200


def test_find_search_tags_dates_paging(lab_http: httpx.Client) -> None:
    marker = uuid.uuid4().hex[:10]
    made = [create(lab_http, f"{marker} number {i}") for i in range(5)]
    lab_http.post(f"/experiments/{made[1]['eid']}/tags", json={"tags": [f"a{marker}"]})
    lab_http.post(f"/experiments/{made[3]['eid']}/tags", json={"tags": [f"b{marker}"]})

    page = lab_http.get("/experiments", params={"search": marker.upper(), "limit": 2}).json()
    assert page["total"] == 5
    assert [e["eid"] for e in page["experiments"]] == [made[4]["eid"], made[3]["eid"]]
    rest = lab_http.get("/experiments", params={"search": marker, "limit": 10, "offset": 2})
    assert [e["eid"] for e in rest.json()["experiments"]] == [m["eid"] for m in made[2::-1]]

    by_eid = lab_http.get("/experiments", params={"search": made[2]["eid"]}).json()
    assert made[2]["eid"] in [e["eid"] for e in by_eid["experiments"]]

    tags = [("tags", f"A{marker}"), ("tags", f"b{marker}")]
    tagged = lab_http.get("/experiments", params=tuple(tags)).json()
    assert sorted(e["eid"] for e in tagged["experiments"]) == sorted(
        [made[1]["eid"], made[3]["eid"]]
    )

    start = made[2]["created_at"]
    later = lab_http.get("/experiments", params={"search": marker, "start_datetime": start})
    assert later.json()["total"] == 3
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    none = lab_http.get("/experiments", params={"search": marker, "start_datetime": future})
    assert none.json()["total"] == 0
    before = lab_http.get("/experiments", params={"search": marker, "end_datetime": start})
    assert before.json()["total"] == 3

    counts = {row["tag"]: row["count"] for row in lab_http.get("/experiments/tags").json()}
    assert counts[f"a{marker}"] == 1 and counts[f"b{marker}"] == 1


@pytest.mark.parametrize(
    "params",
    [{"limit": 501}, {"limit": 0}, {"offset": -1}, {"limit": "x"}, {"start_datetime": "soon"}],
)
def test_bad_find_parameters(lab_http: httpx.Client, params: dict[str, Any]) -> None:
    response = lab_http.get("/experiments", params=params)
    assert response.status_code == 400 and error_code(response) == "bad_request"


def test_find_accepts_500(lab_http: httpx.Client) -> None:
    assert lab_http.get("/experiments", params={"limit": 500}).status_code == 200


def test_remove_experiment(lab_http: httpx.Client) -> None:
    record = create(lab_http)
    lab_http.put(f"/experiments/{record['eid']}/files/a.txt", content=b"abc")
    assert lab_http.delete(f"/experiments/{record['eid']}").json() is True
    assert lab_http.get(f"/experiments/{record['uuid']}").status_code == 404
    assert lab_http.get(f"/experiments/{record['eid']}/files/a.txt").status_code == 404
