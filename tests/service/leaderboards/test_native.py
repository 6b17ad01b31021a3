"""Leaderboards on Sluice's own routes, end to end: templates installed by an admin,
runs executed by a real `sluice worker`, results cast and ranked in MongoDB."""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import Any

import httpx
import pymongo
import pytest

from service.testing import SluiceProcess, SluiceStarter
from tests.service.leaderboards.conftest import LEADERBOARD_FAST
from tests.service.leaderboards.helpers import as_yaml, hello_template, make_group, upload
from tests.sluice.buckets.conftest import StartWorker

NAMES = b"Alice\nBob\n"


def install(lb: httpx.Client, template: dict[str, Any]) -> dict[str, Any]:
    answer = lb.post("/workflows", params={"file_name": "t.yaml"}, content=as_yaml(template))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def wait_run(lb: httpx.Client, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = lb.get(f"/runs/{run_id}").json()
        if run["state"] not in ("PENDING", "RUNNING"):
            return dict(run)
        assert time.monotonic() < deadline, f"run {run_id} still {run['state']}"
        time.sleep(0.2)


class Bench:
    """One installed hello-world template, two groups with a names file each."""

    def __init__(self, lb: httpx.Client, sluice: SluiceProcess, pipeline: str) -> None:
        self.lb = lb
        self.template = install(lb, hello_template(pipeline))
        self.id = self.template["id"]
        self.groups = [make_group(sluice.env, self.id, pipeline, f"team {n}") for n in "ab"]
        self.files = [upload(sluice.env, g, "names.txt", NAMES) for g in self.groups]

    def start(self, group: int, **values: Any) -> httpx.Response:
        arguments = [{"name": "names", "value": {"fileId": self.files[group]}}]
        arguments += [{"name": k, "value": v} for k, v in values.items()]
        return self.lb.post(
            f"/workflows/{self.id}/runs",
            json={"group": self.groups[group], "arguments": arguments},
        )

    def run(self, group: int, **values: Any) -> dict[str, Any]:
        answer = self.start(group, **values)
        assert answer.status_code == 201, answer.text
        return wait_run(self.lb, answer.json()["id"])


@pytest.fixture
def bench(
    lb: httpx.Client, lb_sluice: SluiceProcess, pipeline: str, start_worker: StartWorker
) -> Bench:
    start_worker(lb_sluice.url, pipeline, "--sleep", "0.1")
    return Bench(lb, lb_sluice, pipeline)


def test_a_template_is_installed_listed_and_read(lb: httpx.Client, pipeline: str) -> None:
    template = install(lb, hello_template(pipeline))
    assert [p["name"] for p in template["parameters"]] == [
        "names",
        "sleeptime",
        "greeting",
        "extra",
    ]
    names = template["parameters"][0]
    assert names["target"] == "data/names.txt" and names["index"] == 0 and names["isRequired"]
    assert template["parameterGroups"] == [{"name": "main", "title": "Main Step", "index": 0}]
    assert template["results"]["schema"][2]["required"] is False
    assert template["postproc"] == {"outputs": ["results/compare.json"], "run": None}
    assert lb.get(f"/workflows/{template['id']}").json()["name"] == template["name"]
    listed = [w["id"] for w in lb.get("/workflows").json()["workflows"]]
    assert template["id"] in listed
    again = lb.post("/workflows", content=as_yaml(hello_template(pipeline, name=template["name"])))
    assert again.status_code == 409
    assert lb.get("/workflows/nope").status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {"steps": [{"name": "s", "command": ["true"], "outputs": ["../x"]}], "results": None},
        {"steps": [{"name": "s", "command": ["true"], "outputs": ["/etc/x"]}], "results": None},
        {"postproc": {"steps": [{"name": "p", "command": ["true"], "outputs": ["a/../../x"]}],
                      "outputs": ["a/../../x"]}},
        {"parameters": [{"name": "n", "dtype": "file", "target": "../n"}]},
        {"parameters": [{"name": "n", "dtype": "complex"}]},
        {"results": {"file": "results/analytics.json", "schema": [{"name": "a", "dtype": "float"}],
                     "orderBy": [{"name": "b"}]}},
        {"results": {"file": "nowhere.json", "schema": [{"name": "a"}]}},
        {"steps": [{"name": "s", "command": ["echo", "@undeclared"]}], "results": None},
        # A step in another pipeline: access is decided by the template's, so a run
        # would queue works where its caller may not.
        {"steps": [{"name": "s", "command": ["true"], "pipeline": "elsewhere"}], "results": None},
        {"postproc": {"steps": [{"name": "p", "command": ["true"], "outputs": ["o"],
                                 "pipeline": "elsewhere"}], "outputs": ["o"]}},
    ],
)  # fmt: skip
def test_an_invalid_template_is_refused_and_nothing_stored(
    lb: httpx.Client, pipeline: str, change: dict[str, Any]
) -> None:
    before = len(lb.get("/workflows").json()["workflows"])
    answer = lb.post("/workflows", content=as_yaml(hello_template(pipeline, **change)))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] in ("invalid_template", "validation_failed")
    assert len(lb.get("/workflows").json()["workflows"]) == before


def test_runs_succeed_with_files_and_cast_results_then_rank(bench: Bench) -> None:
    hi = bench.run(0, greeting="Hi")
    assert hi["state"] == "SUCCESS", hi["messages"]
    assert sorted(f["name"] for f in hi["files"]) == ["results/analytics.json",
                                                       "results/greetings.txt"]  # fmt: skip
    # "Hi Alice!" (9) and "Hi Bob!" (7): a float column holds 9.0.
    assert hi["results"] == {"avg_count": 8.0, "max_len": 9.0, "max_line": "Hi Alice!"}
    assert isinstance(hi["results"]["max_len"], float)
    howdy = bench.run(0, greeting="Howdy")
    other = bench.run(1, greeting="Hello")
    assert howdy["state"] == other["state"] == "SUCCESS"
    lb = bench.lb
    best = lb.get(f"/workflows/{bench.id}/ranking").json()
    assert [row["run"]["id"] for row in best["ranking"]] == [howdy["id"], other["id"]]
    assert best["ranking"][0]["group"] == {"id": bench.groups[0], "name": "team a"}
    assert best["schema"][0]["label"] == "Avg. Characters per Line"
    every = lb.get(f"/workflows/{bench.id}/ranking", params={"include_all": "true"}).json()
    assert [row["run"]["id"] for row in every["ranking"]] == [howdy["id"], other["id"], hi["id"]]
    low = lb.get(f"/workflows/{bench.id}/ranking",
                 params={"order_by": "max_len:ASC", "include_all": "True"}).json()  # fmt: skip
    # 9 < 12 = 12: the tie goes to the earlier run.
    assert [row["run"]["id"] for row in low["ranking"]] == [hi["id"], howdy["id"], other["id"]]
    by_line = lb.get(f"/workflows/{bench.id}/ranking",
                     params={"order_by": "max_line:ASC", "include_all": "true"}).json()  # fmt: skip
    # "Hello Alice!" < "Hi Alice!" < "Howdy Alice!"
    assert [row["run"]["id"] for row in by_line["ranking"]] == [other["id"], hi["id"], howdy["id"]]
    by_line_desc = lb.get(f"/workflows/{bench.id}/ranking", params={"order_by": "max_line"}).json()
    assert [row["run"]["id"] for row in by_line_desc["ranking"]] == [howdy["id"], other["id"]]
    paged = lb.get(f"/workflows/{bench.id}/ranking",
                   params={"include_all": "true", "per_page": 1, "page": 2}).json()  # fmt: skip
    assert [row["run"]["id"] for row in paged["ranking"]] == [other["id"]]
    for bad in ("nope", "avg_count,avg_count", ":ASC"):
        answer = lb.get(f"/workflows/{bench.id}/ranking", params={"order_by": bad})
        assert answer.status_code == 400, bad


def test_bad_arguments_are_refused_and_start_nothing(bench: Bench) -> None:
    lb, group = bench.lb, bench.groups[0]
    path = f"/workflows/{bench.id}/runs"
    names = {"name": "names", "value": {"fileId": bench.files[0]}}
    cases = {
        "unknown": [names, {"name": "nope", "value": 1}],
        "duplicate": [names, {"name": "greeting", "value": "a"}, {"name": "greeting", "value": ""}],
        "missing required": [{"name": "greeting", "value": "a"}],
        "wrong type": [names, {"name": "sleeptime", "value": "soon"}],
        "unsafe target": [{"name": "names", "value": {"fileId": bench.files[0],
                                                      "targetPath": "../x"}}],
    }  # fmt: skip
    for what, arguments in cases.items():
        answer = lb.post(path, json={"group": group, "arguments": arguments})
        assert answer.status_code == 400, (what, answer.text)
    unknown_file = [{"name": "names", "value": {"type": "$file", "value": {"fileId": "f" * 32}}}]
    assert lb.post(path, json={"group": group, "arguments": unknown_file}).status_code == 404
    other_group = lb.post(path, json={"group": bench.groups[1], "arguments": [names]})
    assert other_group.status_code == 404  # the file is group a's
    assert (
        lb.get(f"/workflows/{bench.id}/ranking", params={"include_all": "1"}).json()["ranking"]
        == []
    )


def test_a_missing_optional_value_ranks_last_either_way(bench: Bench) -> None:
    blank = bench.run(0, extra={"drop": True})
    assert blank["state"] == "SUCCESS" and "max_line" not in blank["results"]
    full = bench.run(1, greeting="Hi")
    for order in ("max_line:ASC", "max_line:DESC"):
        board = bench.lb.get(f"/workflows/{bench.id}/ranking", params={"order_by": order}).json()
        assert [row["run"]["id"] for row in board["ranking"]] == [full["id"], blank["id"]]


def test_an_invalid_result_is_visible_and_never_ranked(bench: Bench) -> None:
    broken = bench.run(0, extra={"avg_count": "many"})
    assert broken["state"] == "SUCCESS"
    assert broken["results"] is None
    assert broken["messages"] and "avg_count" in broken["messages"][0]
    every = bench.lb.get(f"/workflows/{bench.id}/ranking", params={"include_all": "1"}).json()
    assert broken["id"] not in [row["run"]["id"] for row in every["ranking"]]


def test_cancel_with_a_reason_then_not_again(bench: Bench) -> None:
    answer = bench.start(0, sleeptime=30)
    run_id = answer.json()["id"]
    canceled = bench.lb.post(f"/runs/{run_id}/cancel", json={"reason": "stop"})
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["state"] == "CANCELED" and canceled.json()["messages"] == ["stop"]
    again = bench.lb.post(f"/runs/{run_id}/cancel", json={})
    assert again.status_code == 400 and again.json()["error"]["code"] == "run_not_active"
    time.sleep(1)  # the periodic pass sees the stopped workfile run: the state stays
    assert bench.lb.get(f"/runs/{run_id}").json()["state"] == "CANCELED"
    plain = bench.start(0, sleeptime=30).json()["id"]
    assert bench.lb.post(f"/runs/{plain}/cancel").json()["messages"] == ["canceled at user request"]


def wait_postproc(lb: httpx.Client, workflow_id: str, timeout: float = 60) -> dict[str, Any]:
    """The latest post-processing run once it ended."""
    deadline = time.monotonic() + timeout
    while True:
        run = lb.get(f"/workflows/{workflow_id}").json()["postproc"]["run"]
        if run is not None and run["state"] not in ("PENDING", "RUNNING"):
            return dict(run)
        assert time.monotonic() < deadline, f"post-processing still {run}"
        time.sleep(0.2)


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_archives_and_one_postprocessing_per_change(
    bench: Bench, lb_sluice: SluiceProcess, start_module_sluice: SluiceStarter
) -> None:
    # A second replica on the same database runs the same periodic passes.
    start_module_sluice(
        "replica", **{**LEADERBOARD_FAST, "SLUICE_DB_NAME": lb_sluice.env["SLUICE_DB_NAME"]}
    )
    lb = bench.lb
    assert lb.get(f"/workflows/{bench.id}/archive").status_code == 404
    first = bench.run(0, greeting="Hi")
    archive = lb.get(f"/runs/{first['id']}/archive")
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in archive.headers
    inside = members(archive.content)
    assert inside["results/greetings.txt"] == b"Hi Alice!\nHi Bob!\n"
    assert set(inside) == {"results/greetings.txt", "results/analytics.json"}
    analytics = next(f for f in first["files"] if f["name"] == "results/analytics.json")
    one = lb.get(f"/runs/{first['id']}/files/{analytics['id']}")
    assert one.status_code == 200 and one.json()["max_line"] == "Hi Alice!"
    # The name percent-encoded (RFC 6266): a step output may be named anything.
    assert one.headers["content-disposition"] == "attachment; filename*=UTF-8''analytics.json"
    assert lb.get(f"/runs/{first['id']}/files/{'0' * 24}").status_code == 404
    done = wait_postproc(lb, bench.id)
    assert done["state"] == "SUCCESS", done["messages"]
    second = bench.run(1, greeting="Hello")
    deadline = time.monotonic() + 60
    while wait_postproc(lb, bench.id)["id"] == done["id"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    latest = wait_postproc(lb, bench.id)
    assert latest["state"] == "SUCCESS", latest["messages"]
    compare = members(lb.get(f"/workflows/{bench.id}/archive").content)["results/compare.json"]
    rows = json.loads(compare)
    assert [row["run"] for row in rows] == [second["id"], first["id"]]  # 10.0 before 8.0
    [entry] = latest["files"]
    assert lb.get(f"/workflows/{bench.id}/files/{entry['id']}").json() == rows
    # A worse run of group a changes no ranking: no post-processing is queued for it.
    worse = bench.run(0, greeting="Yo")
    assert worse["state"] == "SUCCESS", worse["messages"]
    time.sleep(1.5)
    with pymongo.MongoClient[dict[str, Any]](lb_sluice.env["MONGODB_URI"]) as client:
        stored = client[lb_sluice.env["SLUICE_DB_NAME"]]["leaderboards.runs"]
        queued = stored.count_documents({"workflow_id": bench.id, "postproc": True})
    assert queued == 2  # one per change, though two replicas watched
    unfinished = bench.start(0, sleeptime=30).json()["id"]
    assert lb.get(f"/runs/{unfinished}/archive").status_code == 404
    lb.post(f"/runs/{unfinished}/cancel")
