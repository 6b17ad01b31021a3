"""The flow and provenance routes of the AERO-compatible surface, with the request and
response shapes the AERO client sends and reads (its `//` paths included)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.service.flows.conftest import commit, function, new_source

AERO = "/osprey/api/v1.0"
FLOW_KEYS = ["id", "derived_from", "contributed_to", "description", "endpoint", "function_id",
             "function_args", "timer", "policy", "timer_job_id", "last_executed"]  # fmt: skip


def aero_register(client: httpx.Client, **body: Any) -> httpx.Response:
    """`register_flow` as the AERO client sends it."""
    sent = {"input_data": {}, "output_data": {}, "description": None, "gc_endpoint": "local",
            "pull_function_uuid": "pull", "commit_function_uuid": "commit", "flow_kwargs": {},
            "rule": -1, "timer_delay": None, **body}  # fmt: skip
    return client.post(f"{AERO}//flow/register", json=sent)


def test_register_and_get_flow_answer_flowjson_with_function_args_an_object(
    client: httpx.Client,
) -> None:
    cases = new_source(client, "cases")
    commit(client, cases, b"abc")
    upper = function(client, "tests.service.flows.jobs.upper")
    answer = aero_register(client, function_uuid=upper, rule=2,
                           input_data={"cases": {"id": cases, "version": None}},
                           output_data={"summary": {"url": None}},
                           flow_kwargs={"threshold": 3}, description="weekly")  # fmt: skip
    assert answer.status_code == 200, answer.text
    flow = answer.json()
    assert list(flow)[: len(FLOW_KEYS)] == FLOW_KEYS
    assert flow["policy"] == 2 and flow["endpoint"] == "local" and flow["timer"] is None
    assert [data["id"] for data in flow["derived_from"]] == [cases]
    summary = flow["contributed_to"][0]["id"]
    kwargs = flow["function_args"]["kwargs"]
    assert kwargs["threshold"] == 3
    assert kwargs["aero"] == {"input_data": {"cases": {"id": cases, "version": None}},
                              "output_data": {"summary": {"id": summary, "url": None}},
                              "flow_id": flow["id"]}  # fmt: skip
    assert flow["pull_function_id"] == "pull" and flow["commit_function_id"] == "commit"
    shown = client.get(f"{AERO}//flow/{flow['id']}")
    assert shown.status_code == 200 and shown.json()["function_args"] == flow["function_args"]
    assert flow["last_executed"] is not None  # both inputs there: it fired at registration

    again = aero_register(client, function_uuid=upper, rule=2,
                          input_data={"cases": {"id": cases, "version": None}},
                          output_data={"summary": {"url": None}},
                          flow_kwargs={"threshold": 3}, description="weekly")  # fmt: skip
    assert again.status_code == 409, again.text
    assert again.json()["code"] == 409 and again.json()["message"] == "Flow already exists"
    assert again.json()["error"]["details"]["flow_id"] == flow["id"]


def test_timer_delay_is_read_and_bad_registrations_are_4xx(client: httpx.Client) -> None:
    upper = function(client, "tests.service.flows.jobs.upper")
    timed = aero_register(client, function_uuid=upper, rule=1, timer_delay=3600)
    assert timed.status_code == 200, timed.text
    assert timed.json()["timer"] == 3600 and timed.json()["timer_job_id"] == timed.json()["id"]
    fork = aero_register(client, function_uuid=upper, rule="TIMER", timer=7200,
                         flow_kwargs={"k": 1})  # fmt: skip
    assert fork.json()["timer"] == 7200
    url = "http://127.0.0.1:9/cases.csv"
    ingestion = aero_register(client, function_uuid=upper, rule=0,
                              output_data={"cases": {"url": url}})  # fmt: skip
    assert ingestion.status_code == 200, ingestion.text
    assert ingestion.json()["timer"] == 86400 and ingestion.json()["policy"] == 0
    assert ingestion.json()["contributed_to"][0]["url"] == url
    no_url = aero_register(client, function_uuid=upper, rule=0, output_data={"x": {}})
    assert no_url.status_code == 400, no_url.text
    for body in ({"function_uuid": "unknown"},
                 {"function_uuid": upper, "input_data": {"x": {"id": "missing"}}},
                 {"function_uuid": upper, "tasks": [1, 2]},
                 {"function_uuid": upper, "gc_endpoint": ""},
                 {"function_uuid": upper, "surprise": 1}):  # fmt: skip
        refused = aero_register(client, **body)
        assert 400 <= refused.status_code < 500, (body, refused.text)
        assert refused.json()["code"] == refused.status_code
    assert client.get(f"{AERO}//flow/nope").status_code == 404


def test_flow_and_prov_listings_end_with_404_after_the_last_page(client: httpx.Client) -> None:
    upper = function(client, "tests.service.flows.jobs.upper")
    made = [aero_register(client, function_uuid=upper, flow_kwargs={"n": n}).json()["id"]
            for n in range(16)]  # fmt: skip
    for flow_id in made:  # a run committed by hand: one provenance record each
        run = client.post(f"/aero/flows/{flow_id}/runs").json()["id"]
        client.post(f"/aero/runs/{run}/task")
        assert client.post(f"/aero/runs/{run}/commit", json={}).status_code == 200
    for kind in ("flow", "prov"):
        pages: list[list[Any]] = []
        page = 1
        while True:
            answer = client.get(f"{AERO}/{kind}" + ("" if page == 1 else f"?page={page}"))
            if answer.status_code != 200:
                assert answer.status_code == 404 and answer.json()["code"] == 404
                break
            pages.append(answer.json())
            page += 1
        assert len(pages[0]) == 15 and sum(map(len, pages)) >= 16
        seen = [item["id"] if kind == "flow" else item["flow_id"] for p in pages for item in p]
        assert set(made) <= set(seen)
    record = client.get(f"{AERO}/prov/").json()[0]
    assert list(record)[:4] == ["id", "flow_id", "contributed_to", "derived_from"]
