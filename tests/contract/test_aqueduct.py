"""The unmodified pyaqueduct 0.1.0 client against a running, auth-on Sluice: the
end-to-end scenario of the wire spec (Appendix B), with each step checked through
Sluice's native routes and its own client too (one store, two surfaces), and an
extension run by a real `sluice worker`."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess, SluiceStarter
from sluice.aqueduct import API as SluiceAPI
from tests.contract.aqueduct import ClientError, Driver, Handle
from tests.service.auth.helpers import bearer, create_token, secure_env
from tests.workers import Workers

PREFIX = "/aqueduct"


@dataclass(frozen=True)
class Aqueduct:
    server: SluiceProcess
    pipeline: str
    #: read + deposit: what a lab's scripts hold.
    lab_token: str
    admin_token: str
    worker_token: str
    read_token: str

    @property
    def url(self) -> str:
        return self.server.url + PREFIX


def manifest(pipeline: str) -> dict[str, Any]:
    exp = {"name": "exp", "data_type": "experiment"}
    return {
        "name": "echo-ext",
        "description": "prints its message",
        "authors": "Sluice tests",
        "pipeline": pipeline,
        "actions": [
            {
                "name": "echo",
                "description": "echo msg",
                "experiment_variable_name": "exp",
                "command": ['echo "$msg"; echo "count=$count flag=$flag"; echo warned >&2'],
                "parameters": [
                    exp,
                    {"name": "msg", "data_type": "str"},
                    {"name": "count", "data_type": "int", "default_value": 1},
                    {"name": "flag", "data_type": "bool", "default_value": False},
                ],
            },
            # No description and no experiment parameter: answered as "" (trap T1).
            {"name": "bare", "command": ["true"], "parameters": []},
        ],
    }


@pytest.fixture(scope="module")
def aqueduct(
    sluice_env: dict[str, str],
    start_module_sluice: SluiceStarter,
    tmp_path_factory: pytest.TempPathFactory,
) -> Aqueduct:
    extensions = tmp_path_factory.mktemp("aqueduct-extensions")
    pipeline = f"aq-{uuid.uuid4().hex[:8]}"
    (extensions / "echo.json").write_text(json.dumps(manifest(pipeline)))
    env = secure_env(
        sluice_env,
        SLUICE_EXTENSIONS_DIR=str(extensions),
        SLUICE_TASK_INTERVAL="0.3",
        SLUICE_AQUEDUCT_EXECUTE_WAIT="40",
    )
    server = start_module_sluice("aqueduct", **env)
    return Aqueduct(
        server,
        pipeline,
        lab_token=create_token(server.url, ["read", "deposit"], owner="lab"),
        admin_token=create_token(server.url, ["admin"]),
        worker_token=create_token(server.url, ["work"]),
        read_token=create_token(server.url, ["read"]),
    )


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    running = Driver(tmp_path_factory.mktemp("pyaqueduct") / "driver.log")
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def native(aqueduct: Aqueduct) -> Iterator[httpx.Client]:
    """Sluice's native routes, with the lab's token."""
    headers = bearer(aqueduct.lab_token)
    with httpx.Client(base_url=aqueduct.server.url, headers=headers, timeout=30) as client:
        yield client


def raised(kind: str, target: Handle, name: str, *args: Any, **kwargs: Any) -> ClientError:
    """The client exception of class `kind` that `target.name(*args)` raises."""
    with pytest.raises(ClientError) as caught:
        target.call(name, *args, **kwargs)
    assert caught.value.kind == kind, caught.value
    return caught.value


def test_it_is_the_released_client(driver: Driver) -> None:
    assert driver.version() == "0.1.0"


def test_scenario(
    aqueduct: Aqueduct,
    driver: Driver,
    native: httpx.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = driver.connect(aqueduct.url, timeout=60, token=aqueduct.lab_token)
    marker = uuid.uuid4().hex[:8]
    sdk = SluiceAPI(aqueduct.server.url, token=aqueduct.lab_token)

    # 1. create; read back; the same record natively
    exp = api.call("create_experiment", f"E2E run {marker}", "wire check")
    eid, exp_uuid = exp.get("eid"), exp.get("uuid")
    assert re.fullmatch(r"\d{8}-\d+", eid)
    assert (exp.get("title"), exp.get("description")) == (f"E2E run {marker}", "wire check")
    record = native.get(f"/experiments/{eid}").json()
    assert (record["uuid"], record["title"]) == (exp_uuid, f"E2E run {marker}")

    # 2. setters; updated_at never goes backwards
    before = exp.get("updated_at")
    exp.set("title", f"E2E run {marker} renamed")
    exp.set("description", "described")
    assert exp.get("title") == f"E2E run {marker} renamed"
    assert exp.get("description") == "described"
    assert exp.get("updated_at") >= before
    seen = sdk.get_experiment_by_uuid(exp_uuid)
    assert (seen.title, seen.description) == (f"E2E run {marker} renamed", "described")

    # 3. tags: case-insensitive, removing an absent one fails
    exp.call("add_tags", ["Wire", "e2e:1"])
    assert exp.get("tags") == ["Wire", "e2e:1"]  # the first spelling, matched in any case
    exp.call("remove_tag", "WIRE")
    assert exp.get("tags") == ["e2e:1"]
    raised("RemoteOperationError", exp, "remove_tag", "absent")
    assert sdk.get_experiment_by_eid(eid).tags == ["e2e:1"]

    # 4. find by search, tags and dates (totals before paging); get by EID and UUID
    found = api.call("find_experiments", search=f"e2e RUN {marker.upper()}", tags=["E2E:1"])
    assert [e.get("uuid") for e in found] == [exp_uuid]
    client = api.get("_client")
    created = exp.get("created_at")
    page = client.call(
        "get_experiments",
        limit=1,
        offset=0,
        title=marker,
        start_datetime=created - timedelta(seconds=1),
        end_datetime=created + timedelta(seconds=1),
    )
    assert page.get("total_count") == 1
    assert [e.get("uuid") for e in page.get("experiments")] == [exp_uuid]
    late = api.call("find_experiments", search=marker, start_datetime=created + timedelta(hours=1))
    assert late == []
    assert api.call("get_experiment_by_eid", eid).get("uuid") == exp_uuid
    assert api.call("get_experiment_by_uuid", exp_uuid).get("eid") == eid
    raised("RemoteOperationError", api, "get_experiment_by_uuid", str(uuid.uuid4()))
    assert "e2e:1" in [t.lower() for t in client.call("get_tags", 500, 0).get("tags")]

    # 5. files: upload, list, download, overwrite, a multi-MB one streamed
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    exp.call("upload_file", str(data))
    assert [name for name, _ in exp.get("files")] == ["data.csv"]
    out = tmp_path / "out"
    out.mkdir()
    exp.call("download_file", "data.csv", str(out))
    assert (out / "data.csv").read_bytes() == data.read_bytes()
    data.write_text("a,b\n3,4\n5,6\n")
    exp.call("upload_file", str(data))
    exp.call("download_file", "data.csv", str(out))
    assert (out / "data.csv").read_bytes() == data.read_bytes()
    assert native.get(f"/experiments/{eid}/files/data.csv").content == data.read_bytes()
    big = tmp_path / "big.bin"
    big.write_bytes(uuid.uuid4().bytes * 200_000)  # 3.2 MB
    exp.call("upload_file", str(big))
    exp.call("download_file", "big.bin", str(out))
    assert (out / "big.bin").read_bytes() == big.read_bytes()
    names = sorted(name for name, _ in sdk.get_experiment_by_eid(eid).files)
    assert names == ["big.bin", "data.csv"]

    # 6. an extension run by a real worker: stdout and the log file
    extensions = api.call("get_extensions")
    echo_ext = next(e for e in extensions if e.get("name") == "echo-ext")
    actions = {a.get("name"): a for a in echo_ext.get("actions")}
    assert actions["bare"].get("description") == ""
    assert actions["bare"].get("experiment_variable_name") == ""
    echo = actions["echo"]
    variable = echo.get("experiment_variable_name")
    raised("RemoteOperationError", echo, "execute", {variable: eid})  # msg is missing
    monkeypatch.setenv("SLUICE_TOKEN", aqueduct.worker_token)
    workers = Workers()
    try:
        workers.start(aqueduct.server.url, aqueduct.pipeline, "--lives", "1", "--sleep", "0.2")
        result = echo.call("execute", {variable: eid, "msg": "hello", "count": 3, "flag": True})
    finally:
        workers.close()
    assert result.get("returnCode") == 0
    assert result.get("stdout").splitlines() == ["hello", "count=3 flag=true"]
    assert result.get("stderr") == "warned"
    assert result.get("logExperiment") == eid
    log_file = result.get("logFile")
    assert log_file in [name for name, _ in exp.get("files")]
    exp.call("download_file", log_file, str(out))
    assert "hello" in (out / log_file).read_text()

    # 9. the run is a Sluice task, visible natively
    tasks = native.get("/tasks", params={"experiment_uuid": exp_uuid}).json()["tasks"]
    assert [(t["status"], t["result_code"]) for t in tasks] == [("SUCCESS", 0)]

    # 7. a wrong token, or none: refused, nothing created or stored
    total = native.get("/experiments", params={"limit": 1}).json()["total"]
    stranger = driver.connect(aqueduct.url, timeout=60, token="slc_not-a-token")
    raised("UnAuthorizedError", stranger, "create_experiment", "intruder", "x")
    anonymous = driver.connect(aqueduct.url, timeout=60, token=None)
    raised("UnAuthorizedError", anonymous, "get_experiment_by_eid", eid)
    # The upload Experiment.upload_file makes, from the stranger's client.
    raised("UnAuthorizedError", stranger.get("_client"), "upload_file", exp_uuid, str(data))
    reader = driver.connect(aqueduct.url, timeout=60, token=aqueduct.read_token)
    assert reader.call("get_experiment_by_eid", eid).get("uuid") == exp_uuid
    raised("ForbiddenError", reader, "create_experiment", "read-only", "x")
    raised("ForbiddenError", reader.get("_client"), "upload_file", exp_uuid, str(data))
    assert native.get("/experiments", params={"limit": 1}).json()["total"] == total
    names = sorted(name for name, _ in sdk.get_experiment_by_eid(eid).files)
    assert names == sorted(["big.bin", "data.csv", log_file])

    # 8. removal needs the admin scope, as natively
    raised("ForbiddenError", api, "remove_experiment_by_eid", eid)
    admin = driver.connect(aqueduct.url, timeout=60, token=aqueduct.admin_token)
    admin.call("remove_experiment_by_eid", eid)
    raised("RemoteOperationError", api, "get_experiment_by_eid", eid)
    assert native.get(f"/experiments/{eid}").status_code == 404
    sdk.close()
