"""The flows client (`sluice.flows.Flows`) and `sluice flow ...` against a running
Sluice and a real worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest
from click.testing import CliRunner, Result

from service.testing import SluiceProcess, SluiceStarter
from sluice.cli.main import main
from sluice.errors import BadRequest, NotFound
from sluice.flowjob import package_version
from sluice.flows import Flows
from tests.service.flows.conftest import FAST, worker
from tests.sluice.buckets.conftest import wait_for
from tests.workers import Workers

UPPER = "tests.service.flows.jobs.upper"


@pytest.fixture(scope="module")
def server(start_module_sluice: SluiceStarter) -> SluiceProcess:
    return start_module_sluice("sdk-flows", **FAST)


@pytest.fixture
def flows(server: SluiceProcess) -> Iterator[Flows]:
    with Flows(server.url) as client:
        yield client


@pytest.fixture
def workers() -> Iterator[Workers]:
    started = Workers()
    yield started
    started.close()


def cli(server: SluiceProcess, *args: str) -> Result:
    return CliRunner().invoke(main, ["--url", server.url, "flow", *args])


def committed(flows: Flows, flow_id: str, count: int) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        found = flows.runs(flow_id)
        return found if [r["status"] for r in found] == ["committed"] * count else None

    found: list[dict[str, Any]] = wait_for(check, 30, f"{count} committed runs")
    return found


def test_register_run_and_trace_a_flow_from_the_client(
    flows: Flows, server: SluiceProcess, workers: Workers
) -> None:
    function_id = flows.register_function(UPPER)
    source = flows.create_source("cases")["id"]
    flows.upload_version(source, b"week 1: 10\n")
    flow = flows.register_flow("local", function_id, input_data={"cases": {"id": source}},
                               output_data={"summary": {}}, kwargs={}, policy="ANY",
                               description="upper-cased cases")  # fmt: skip
    worker(workers, server.url)
    (run,) = committed(flows, flow["id"], 1)
    summary = flow["outputs"]["summary"]["data_id"]
    assert flows.download(summary) == b"WEEK 1: 10\n"
    given = flows.get_flow(flow["id"])
    assert given["aero"]["input_data"] == {"cases": {"id": source, "version": None}}
    assert flows.get_flow(flow["id"], inputs_only=False)["last_run_id"] == run["id"]
    up = flows.lineage(summary, 1)
    assert up["versions"] == [run["inputs"]["cases"]["version_id"]]
    down = flows.lineage(source, 1, direction="down")
    assert down["versions"] == [flows.get_version(summary, 1)["id"]]
    (record,) = flows.provenance(flow_id=flow["id"])
    assert record["run_id"] == run["id"]
    assert flows.provenance(run_id=run["id"]) == [record]
    assert flows.provenance(run_id="no-such-run") == []
    assert flow["id"] in [item["id"] for item in flows.list_flows()]
    assert any(flow["id"] in [f["id"] for f in page] for page in flows.list_metadata("flow"))

    assert flows.pause_flow(flow["id"])["state"] == "paused"
    with pytest.raises(BadRequest):
        flows.run_flow(flow["id"])
    assert flows.resume_flow(flow["id"])["state"] == "active"
    again = flows.run_flow(flow["id"])
    committed(flows, flow["id"], 2)
    assert flows.get_run(again["id"])["status"] == "committed"
    assert flows.delete_flow(flow["id"]) is True
    with pytest.raises(NotFound):
        flows.get_flow(flow["id"])
    with pytest.raises(BadRequest, match="function not registered"):
        flows.register_flow("local", "nope")
    with pytest.raises(ValueError, match="config"):
        flows.register_flow("local", function_id, config="tasks.toml")


def test_the_flow_commands(flows: Flows, server: SluiceProcess, workers: Workers) -> None:
    function_id = flows.register_function("tests.service.flows.jobs.combine")
    a = flows.create_source("a")["id"]
    b = flows.create_source("b")["id"]
    flows.upload_version(a, b"a")
    registered = cli(server, "register", function_id, "-i", f"a={a}", "-i", f"b={b}",
                     "-o", "combined=new", "-p", "ALL", "--site", "local", "--json")  # fmt: skip
    assert registered.exit_code == 0, registered.output
    flow_id = json.loads(registered.output)["id"]
    listed = cli(server, "ls")
    assert listed.exit_code == 0 and flow_id in listed.output and "ALL" in listed.output
    shown = cli(server, "show", flow_id)
    assert f"waiting_for: {b}" in shown.output and f"input a: {a}@latest" in shown.output
    ran = cli(server, "run", flow_id)
    assert ran.exit_code == 1 and "inputs without the version they need" in ran.output
    forced = cli(server, "run", flow_id, "--force")
    assert forced.exit_code == 1 and "force re-ingests" in forced.output, forced.output
    flows.upload_version(b, b"b")
    worker(workers, server.url)
    committed(flows, flow_id, 1)
    shown = cli(server, "show", flow_id, "--runs")
    assert "committed (input:" in shown.output
    assert cli(server, "pause", flow_id).output.strip() == f"{flow_id}: paused"
    assert cli(server, "pause", flow_id, "--resume").output.strip() == f"{flow_id}: active"
    pinned = cli(server, "register", function_id, "-i", f"a={a}@9", "-i", f"b={b}")
    assert pinned.exit_code == 1 and "version 9" in pinned.output
    assert cli(server, "delete", flow_id).exit_code == 0
    assert cli(server, "show", flow_id).exit_code == 1


def test_the_package_version_reported_is_the_installed_distributions() -> None:
    assert package_version(Flows.register_flow) == ("sluice", metadata.version("sluice"))
    assert package_version(test_the_flow_commands)[0] is None  # tests is no distribution


def test_notify_queues_an_event_flows_ingestion_from_the_client_and_the_cli(
    flows: Flows, server: SluiceProcess
) -> None:
    feed = flows.create_source("feed", url="http://127.0.0.1:9/feed.csv")["id"]
    registered = cli(server, "register", "-o", f"feed={feed}", "-p", "INGESTION_EVENT",
                     "--site", "local", "--json")  # fmt: skip
    assert registered.exit_code == 0, registered.output
    flow_id = json.loads(registered.output)["id"]
    run = flows.notify(feed, etag='"1"', size=10)  # no worker: it stays queued
    assert run["trigger"] == "notify" and run["notice"] == {"etag": '"1"', "size": 10}
    assert flows.notify(feed, etag='"1"') == {"coalesced": True, "flow_id": flow_id}
    noticed = CliRunner().invoke(main, ["--url", server.url, "data", "notify", feed, "--etag", "2"])
    assert noticed.exit_code == 0 and "coalesced" in noticed.output, noticed.output
    assert [found["id"] for found in flows.runs(flow_id)] == [run["id"]]
    plain = flows.create_source("plain")["id"]
    with pytest.raises(BadRequest, match="INGESTION_EVENT"):
        flows.notify(plain)
    refused = CliRunner().invoke(main, ["--url", server.url, "data", "notify", plain])
    assert refused.exit_code == 1 and "INGESTION_EVENT" in refused.output
    flows.delete_flow(flow_id)
    again = flows.register_flow("local", None, output_data={"feed": {"id": feed}},
                                policy="INGESTION_EVENT")  # fmt: skip
    queued = CliRunner().invoke(main, ["--url", server.url, "data", "notify", feed])
    assert queued.exit_code == 0 and f"of flow {again['id']}" in queued.output, queued.output


def test_register_flow_takes_tasks(flows: Flows) -> None:
    function_id = flows.register_function("tests.service.flows.jobs.labelled")
    made = flows.register_flow("local", function_id, tasks=[{"label": "a"}, {"label": "b"}])
    assert made["tasks"] == [{"label": "a"}, {"label": "b"}]
    assert made["kwargs"] == {"label": "a"}
    with pytest.raises(BadRequest, match="not both"):
        flows.register_flow("local", function_id, kwargs={"label": "c"}, tasks=[{"label": "d"}])


def test_the_register_command_takes_tasks_timeout_and_retries(
    flows: Flows, server: SluiceProcess
) -> None:
    function_id = flows.register_function("tests.service.flows.jobs.shout")
    tasks = ["--task", '{"style": "a"}', "--task", '{"style": "b"}']
    registered = cli(server, "register", function_id, *tasks, "--timeout", "60", "--retries", "1",
                     "--json")  # fmt: skip
    assert registered.exit_code == 0, registered.output
    made = json.loads(registered.output)
    assert made["tasks"] == [{"style": "a"}, {"style": "b"}]
    assert (made["timeout"], made["retries"]) == (60, 1)
    both = cli(server, "register", function_id, "--task", '{"style": "a"}', "--kwargs", '{"x": 1}')
    assert both.exit_code == 1 and "not both" in both.output, both.output
    bad = cli(server, "register", function_id, "--task", "[1]")
    assert bad.exit_code == 2 and "must be a JSON object" in bad.output, bad.output
