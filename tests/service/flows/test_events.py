"""INGESTION_EVENT flows: no timer; `POST /aero/data/{id}/notify` queues one ingestion
run (trigger `notify`) through the ingestion every INGESTION flow uses (conditional GET:
an unchanged upstream is an `unchanged` run, no version); refusals change nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.flows.conftest import FAST, flow, new_source, register, runs, worker
from tests.service.flows.test_compat import AERO, aero_register
from tests.service.flows.test_schedule import Upstream
from tests.sluice.buckets.conftest import wait_for
from tests.workers import Workers

TICK = float(FAST["SLUICE_AERO_SCHEDULER_TICK"])


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    served = Upstream()
    yield served
    served.server.shutdown()


def event_flow(client: httpx.Client, url: str) -> tuple[str, dict[str, Any]]:
    """A source fetched from `url` and the INGESTION_EVENT flow producing it."""
    source = new_source(client, "on notice", url=url)
    made = register(client, None, policy="INGESTION_EVENT", outputs={"data": {"data_id": source}})
    return source, made


def notify(client: httpx.Client, data_id: str, **body: Any) -> httpx.Response:
    return client.post(f"/aero/data/{data_id}/notify", json=body)


def test_each_notice_runs_the_ingestion_once_and_unchanged_makes_no_version(
    client: httpx.Client, server: SluiceProcess, workers: Workers, upstream: Upstream
) -> None:
    source, made = event_flow(client, upstream.url)
    assert made["policy"] == "INGESTION_EVENT" and made["pipeline"] == "aero-ingest"
    assert made["timer"] is None and made["next_run_at"] is None
    time.sleep(5 * TICK)  # several scheduler passes: no timer, so nothing runs
    assert runs(client, made["id"]) == []
    worker(workers, server.url, "aero-ingest")

    def statuses() -> list[str]:
        return [run["status"] for run in runs(client, made["id"])]

    first = notify(client, source, etag='"v1"', size=2, url=upstream.url)
    assert first.status_code == 201, first.text
    run = first.json()
    assert run["trigger"] == "notify" and run["kind"] == "ingest"
    assert run["notice"] == {"etag": '"v1"', "size": 2, "url": upstream.url}
    wait_for(lambda: statuses() == ["committed"], 30, "the first notice's ingestion")
    # No body at all: a notice saying nothing more. The upstream answers 304.
    bare = client.post(f"/aero/data/{source}/notify")
    assert bare.status_code == 201, bare.text
    wait_for(lambda: statuses() == ["committed", "unchanged"], 30, "an unchanged ingestion")
    upstream.content = b"v2"
    assert notify(client, source, etag='"v2"').status_code == 201
    wait_for(lambda: statuses() == ["committed", "unchanged", "committed"], 30, "v2 ingested")
    versions = client.get(f"/aero/data/{source}/versions").json()["items"]
    assert [v["version"] for v in versions] == [1, 2]
    assert client.get(f"/aero/data/{source}/versions/2/content").content == b"v2"
    records = client.get("/aero/provenance", params={"flow_id": made["id"]}).json()
    assert records["total"] == 2  # the unchanged run left none
    assert flow(client, made["id"])["next_run_at"] is None


def test_a_retried_notice_joins_the_run_in_flight(client: httpx.Client) -> None:
    source, made = event_flow(client, "http://127.0.0.1:9/feed.csv")  # no worker takes it
    first = notify(client, source, etag='"e1"')
    assert first.status_code == 201, first.text
    again = notify(client, source, etag='"e1"')
    assert again.status_code == 202 and again.json() == {"coalesced": True, "flow_id": made["id"]}
    other = notify(client, source, etag='"e2"')  # a new change: one follow-up after it
    assert other.status_code == 202, other.text
    assert [run["id"] for run in runs(client, made["id"])] == [first.json()["id"]]
    assert flow(client, made["id"])["pending_run_id"] == first.json()["id"]


def test_bad_notices_are_4xx_and_change_nothing(client: httpx.Client) -> None:
    source, made = event_flow(client, "http://127.0.0.1:9/other.csv")
    plain = new_source(client, "no flow")
    timed = new_source(client, "on a timer", url="http://127.0.0.1:9/timed.csv")
    register(client, None, policy="INGESTION", timer=3600,
             outputs={"data": {"data_id": timed}})  # fmt: skip
    assert notify(client, "nope").status_code == 404
    for data_id in (plain, timed):
        refused = notify(client, data_id)
        assert refused.status_code == 400, refused.text
        assert "INGESTION_EVENT" in refused.json()["error"]["message"]
    wrong = notify(client, source, url="http://127.0.0.1:9/elsewhere.csv")
    assert wrong.status_code == 400 and "other.csv" in wrong.json()["error"]["message"]
    for body in ({"etag": 1}, {"size": -1}, {"size": "2"}, {"etag": ""}, {"surprise": 1},
                 {"etag": "x" * 1025}):  # fmt: skip
        assert notify(client, source, **body).status_code == 422, body
    for raw in (b"[1]", b"{nope", b'"etag"'):
        answer = client.post(f"/aero/data/{source}/notify", content=raw)
        assert 400 <= answer.status_code < 500, (raw, answer.text)
    client.patch(f"/aero/flows/{made['id']}", json={"state": "paused"})
    paused = notify(client, source)
    assert paused.status_code == 400 and "paused" in paused.json()["error"]["message"]
    assert runs(client, made["id"]) == []
    client.delete(f"/aero/flows/{made['id']}")
    assert notify(client, source).status_code == 400  # no live flow produces it now


def test_registration_takes_the_policy_by_name_and_as_aero_rule_4(client: httpx.Client) -> None:
    url = "http://127.0.0.1:9/rule4.csv"
    by_rule = aero_register(client, rule=4, output_data={"feed": {"url": url}})
    assert by_rule.status_code == 200, by_rule.text
    shown = by_rule.json()
    assert shown["policy"] == 4 and shown["timer"] is None and shown["timer_job_id"] is None
    assert shown["contributed_to"][0]["url"] == url and shown["function_id"] is None
    by_name = aero_register(client, rule="INGESTION_EVENT", timer_delay=3600,
                            output_data={"feed": {"url": url + "?b"}})  # fmt: skip
    assert by_name.status_code == 200, by_name.text
    assert by_name.json()["policy"] == 4 and by_name.json()["timer"] is None
    got = client.get(f"{AERO}//flow/{shown['id']}").json()
    assert got["function_args"]["kwargs"]["aero"]["output_data"]["feed"]["url"] == url
    refusals: list[dict[str, Any]] = [
        {},
        {"feed": {}},
        {"feed": {"url": "http://elsewhere.example/x"}},
    ]
    for outputs in refusals:
        refused = aero_register(client, rule=4, output_data=outputs)
        assert refused.status_code == 400, (outputs, refused.text)
    native = client.post("/aero/flows", json={"policy": "INGESTION_EVENT", "site": "local",
                                              "outputs": {"a": {}, "b": {}}})  # fmt: skip
    assert native.status_code == 400 and "exactly one output" in native.text
