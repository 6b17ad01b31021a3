"""The unmodified Alpine client (`alpine` 1.0.14) against a running Sluice with auth on
and a real `sluice worker`: the acceptance scenario of the Alpine wire spec, in order.

The client reaches the Chorus routes under /alpine with the "host trick"
(`APIClient("127.0.0.1:<port>/alpine", 80, ...)`); it sends engine requests to the host
root itself. It runs in the pytest process: it keeps no global state beyond its own
`requests.Session` (and reads ./logging.json, which the project root does not have).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import alpine
import httpx
import pytest
from alpine.exception import (
    InvalidResponseCodeException,
    LoginFailureException,
    ResultsNotFoundException,
    RunFlowFailureException,
    RunFlowTimeoutException,
    StopFlowFailureException,
    WorkfileNotFoundException,
    WorkflowVariableException,
    WorkspaceNotFoundException,
)

from service.testing import SluiceProcess, SluiceStarter
from sluice import Admin, Workfile
from tests.service.auth.helpers import ADMIN_SECRET, create_token, secure_env
from tests.service.workfiles.helpers import FAST, JOBS, as_yaml, diamond
from tests.sluice.buckets.conftest import wait_for
from tests.workers import Workers

PASSWORD = "secret"
#: The workfile size limit of this module's Sluice, so "too large" is cheap to send.
MAX_WORKFILE_BYTES = 65536


@pytest.fixture(scope="module")
def pipeline_name() -> str:
    return f"alp-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def server(sluice_env: dict[str, str], start_module_sluice: SluiceStarter) -> SluiceProcess:
    """An auth-on Sluice whose runs advance every 0.2 s."""
    env = secure_env(sluice_env, SLUICE_MAX_WORKFILE_BYTES=str(MAX_WORKFILE_BYTES))
    return start_module_sluice("alpine", **env, **FAST)


@pytest.fixture(scope="module")
def analyst(server: SluiceProcess, pipeline_name: str) -> str:
    """The user `analyst`, created by an admin, limited to this module's pipelines."""
    with Admin(server.url, ADMIN_SECRET) as admin:
        admin.create_user("analyst", PASSWORD, ["admin"], pipelines=["alp-*"])
    return "analyst"


@pytest.fixture(scope="module")
def worker(server: SluiceProcess, pipeline_name: str) -> Iterator[None]:
    """A real `sluice worker` for this module's pipeline, with a work token."""
    token = create_token(server.url, ["work", "read"], [pipeline_name])
    workers = Workers()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLUICE_TOKEN", token)
        workers.start(server.url, pipeline_name, "--sleep", "0.1")
    yield
    workers.close()


@pytest.fixture(scope="module")
def session(server: SluiceProcess, analyst: str, worker: None) -> alpine.APIClient:
    return alpine.APIClient(f"127.0.0.1:{server.port}/alpine", 80, analyst, PASSWORD)


@pytest.fixture(scope="module")
def workspace_id(session: alpine.APIClient) -> str:
    session.workspace.create("Demo", public=False, summary="the demo workspace")
    found: str = session.workspace.get_id("Demo")
    return found


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, pipeline_name: str) -> dict[str, Path]:
    """The five workflows of the scenario, as files named as they are uploaded."""
    folder = tmp_path_factory.mktemp("workflows")
    marker = folder / "nap.marker"
    slow = {
        "name": "slow",
        "pipeline": pipeline_name,
        "site": "local",
        "operators": [
            {"name": "nap", "function": f"{JOBS}.sleepy", "timeout": 5, "retries": 0,
             "parameters": {"seconds": 30, "marker": str(marker)}},
            {"name": "after", "function": f"{JOBS}.add", "depends_on": ["nap"],
             "parameters": {"a": 1, "b": 2}},
        ],
    }  # fmt: skip
    flows: dict[str, Any] = {
        "diamond.yaml": diamond(
            pipeline_name, variables={"@rows": 1}, start={"parameters": {"a": "@rows", "b": 1}}
        ),
        "failing.yaml": diamond(
            pipeline_name,
            left={"function": f"{JOBS}.fail", "parameters": {"message": "no pulsar here"}},
        ),
        "slow.yaml": slow,
        "filler-1.yaml": diamond(pipeline_name, name="filler one"),
        "filler-2.yaml": diamond(pipeline_name, name="filler two"),
    }
    paths = {}
    for name, workflow in flows.items():
        paths[name] = folder / name
        paths[name].write_bytes(as_yaml(workflow))
    return paths


@pytest.fixture(scope="module")
def uploaded(
    session: alpine.APIClient, workspace_id: str, files: dict[str, Path]
) -> dict[str, str]:
    """Each scenario file uploaded through the client: file name -> workfile id."""
    ids = {}
    for name, path in files.items():
        stored = session.workfile.upload(workspace_id, str(path), [])
        assert stored["file_name"] == name
        ids[name] = stored["id"]
    return ids


def raw(server: SluiceProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


def test_login_returns_the_user_and_a_session(session: alpine.APIClient) -> None:
    assert session.token.startswith("sls_") and session.user_id
    status = session.get_status()  # the session cookie alone
    assert status["username"] == "analyst" and status["id"] == session.user_id
    assert session.get_version().startswith("sluice-")


def test_a_wrong_password_or_name_gets_the_same_answer(server: SluiceProcess, analyst: str) -> None:
    with pytest.raises(LoginFailureException):
        alpine.APIClient(f"127.0.0.1:{server.port}/alpine", 80, analyst, "wrong")
    with raw(server) as client:
        answers = [
            client.post("/alpine/api/sessions", data={"username": user, "password": password})
            for user, password in ((analyst, "wrong"), ("nobody", PASSWORD))
        ]
    assert {answer.status_code for answer in answers} == {401}
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["error"]["message"] == "wrong username or password"


def test_the_workspace_is_found_by_name(
    session: alpine.APIClient, server: SluiceProcess, workspace_id: str
) -> None:
    got = session.workspace.get(workspace_id)
    assert got["name"] == "Demo" and got["summary"] == "the demo workspace"
    assert any(item["id"] == workspace_id for item in session.workspace.get_list(per_page=1))
    with raw(server) as client:  # the same workspace on Sluice's own route
        native = client.get("/workspaces", params={"per_page": 1000},
                            headers={"x-access-token": ADMIN_SECRET})  # fmt: skip
        assert {"id": workspace_id, "name": "Demo"}.items() <= next(
            item for item in native.json()["workspaces"] if item["name"] == "Demo"
        ).items()
        too_many = client.get("/workspaces", params={"per_page": 10**6},
                              headers={"x-access-token": ADMIN_SECRET})  # fmt: skip
        assert too_many.status_code == 400, too_many.text
    with pytest.raises(WorkspaceNotFoundException):
        session.workspace.get_id("No such workspace")
    with pytest.raises(WorkspaceNotFoundException):
        session.workspace.get("nope")


def test_uploads_page_get_and_download(
    session: alpine.APIClient,
    workspace_id: str,
    uploaded: dict[str, str],
    files: dict[str, Path],
) -> None:
    listed = session.workfile.get_list(workspace_id, per_page=2)  # 3 pages on the wire
    assert sorted(item["file_name"] for item in listed) == sorted(files)
    wid = session.workfile.get_id("diamond.yaml", workspace_id)
    assert wid == uploaded["diamond.yaml"]
    assert session.workfile.get(wid)["response"]["file_name"] == "diamond.yaml"
    assert session.workfile.download(wid) == files["diamond.yaml"].read_bytes()


def test_paging_through_250_workfiles(
    session: alpine.APIClient, server: SluiceProcess, pipeline_name: str
) -> None:
    name = f"Many {uuid.uuid4().hex[:6]}"
    content = as_yaml(diamond(pipeline_name))
    with raw(server) as client:  # seeded through Sluice's own route
        for n in range(250):
            params = {"workspace": name, "file_name": f"f{n:03}.yaml"}
            answer = client.post("/workfiles", params=params, content=content,
                                 headers={"x-access-token": ADMIN_SECRET})  # fmt: skip
            assert answer.status_code == 200, answer.text
    many = session.workspace.get_id(name)
    listed = session.workfile.get_list(many)
    assert [item["file_name"] for item in listed] == [f"f{n:03}.yaml" for n in range(250)]


def test_a_run_with_a_variable_succeeds(
    session: alpine.APIClient, server: SluiceProcess, uploaded: dict[str, str]
) -> None:
    process = session.workfile.process
    wid = uploaded["diamond.yaml"]
    pid = process.run(wid, [{"name": "@rows", "value": "13"}])
    assert isinstance(pid, str)
    assert process.query_status(pid) == "WORKING"
    assert process.wait_until_finished(wid, pid, query_time=1, timeout=60) == "SUCCESS"
    report = process.download_results(wid, pid)
    meta = process.get_metadata(report)
    assert meta["status"] == "SUCCESS" and meta["noOfError"] == 0
    assert meta["executeUser"] == "analyst"
    assert [output["out_title"] for output in report["outputs"]] == [
        "start", "left", "right", "total",
    ]  # fmt: skip
    assert process.find_operator("total", report)["visualData"] == {"sum": 138}
    assert process.query_status(pid) == "FINISHED"
    # The same workfile and run through Sluice's own client (the session is a credential).
    with Workfile(server.url, session.token) as native:
        assert native.get(wid)["workspace"] == "Demo"
        assert native.process.download_results(wid, pid) == report


def test_a_failing_run_reports_failure(session: alpine.APIClient, uploaded: dict[str, str]) -> None:
    process = session.workfile.process
    wid = uploaded["failing.yaml"]
    pid = process.run(wid)
    assert process.wait_until_finished(wid, pid, query_time=1, timeout=60) == "FAILURE"
    report = process.download_results(wid, pid)
    assert process.get_metadata(report)["noOfError"] >= 1
    assert any("no pulsar here" in entry["message"] for entry in report["logs"])
    assert process.query_status(pid) == "FAILED"


def test_stop_and_the_timeout_path(
    session: alpine.APIClient, uploaded: dict[str, str], files: dict[str, Path]
) -> None:
    process = session.workfile.process
    wid = uploaded["slow.yaml"]
    marker = files["slow.yaml"].parent / "nap.marker"
    pid = process.run(wid)
    wait_for(marker.exists, what="the nap to start")
    assert process.stop(pid) == "STOPPED"
    assert process.stop(pid) == "STOP FAILED"
    report = process.download_results(wid, pid)
    assert process.get_metadata(report)["status"] == "STOPPED"
    assert process.find_operator("after", report)["node_meta_info"]["state"] == "cancelled"
    pid = process.run(wid)
    with pytest.raises(RunFlowTimeoutException):
        process.wait_until_finished(wid, pid, query_time=1, timeout=1)
    assert process.get_metadata(process.download_results(wid, pid))["status"] == "STOPPED"


def test_every_not_found_is_the_clients_exception(
    session: alpine.APIClient, uploaded: dict[str, str]
) -> None:
    wid, process = uploaded["diamond.yaml"], session.workfile.process
    with pytest.raises(WorkfileNotFoundException):
        session.workfile.get("nope")
    with pytest.raises(WorkfileNotFoundException):
        session.workfile.download("nope")
    with pytest.raises(RunFlowFailureException):
        process.query_status("nope")
    with pytest.raises(StopFlowFailureException):
        process.stop("nope")
    with pytest.raises(ResultsNotFoundException):
        process.download_results(wid, "nope")
    with pytest.raises(RunFlowFailureException):
        process.run("nope")
    with pytest.raises(WorkflowVariableException):
        process.run(wid, [{"name": "@rows"}])


def test_bad_input_gets_clear_errors(
    session: alpine.APIClient, server: SluiceProcess, workspace_id: str, uploaded: dict[str, str]
) -> None:
    cookie = {"Cookie": f"sluice_session={session.token}"}
    engine = "/alpinedatalabs/api/v1/json"
    before = len(session.workfile.get_list(workspace_id))
    with raw(server) as client:
        run = f"{engine}/workflows/{uploaded['diamond.yaml']}/run"
        missing = client.post(run, content=b'{"variables": [{"name": "@rows"}]}', headers=cookie)
        assert missing.status_code == 422, missing.text
        assert "value" in missing.json()["error"]["message"]
        unknown = client.post(run, json={"variables": [{"name": "@nope", "value": 1}]},
                              headers={"x-token": session.token})  # fmt: skip
        assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_variable"
        url = f"/alpine/api/workspaces/{workspace_id}/workfiles"
        huge = {"workfile[versions_attributes][0][contents]": ("huge.yaml", b"#" * 70000)}
        too_large = client.post(url, params={"session_id": session.token}, files=huge)
        assert too_large.status_code == 413, too_large.text
        assert too_large.json()["error"]["details"]["limit"] == "SLUICE_MAX_WORKFILE_BYTES"
        garbage = client.post(url, params={"session_id": session.token}, content=b"not a form")
        assert garbage.status_code == 400, garbage.text
        paging = client.request("GET", url, params={"session_id": session.token},
                                content=b'{"page": "two"}')  # fmt: skip
        assert paging.status_code == 400, paging.text
    assert len(session.workfile.get_list(workspace_id)) == before


def test_only_an_empty_workspace_is_deleted(
    session: alpine.APIClient, workspace_id: str, uploaded: dict[str, str]
) -> None:
    scratch = session.workspace.create("Scratch")["id"]
    assert session.workspace.delete(scratch) is None
    with pytest.raises(WorkspaceNotFoundException):
        session.workspace.get(scratch)
    with pytest.raises(InvalidResponseCodeException, match="409"):
        session.workspace.delete(workspace_id)
    assert session.workspace.get(workspace_id)["name"] == "Demo"


def test_delete_then_logout_refuses_the_old_token(
    session: alpine.APIClient, server: SluiceProcess, uploaded: dict[str, str]
) -> None:
    wid = uploaded["filler-1.yaml"]
    assert session.workfile.delete(wid) is None
    with pytest.raises(WorkfileNotFoundException):
        session.workfile.get(wid)
    token = session.token
    with raw(server) as client:
        answer = client.delete("/alpine/api/workfiles/nope", params={"session_id": token})
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "workfile_not_found"
        assert session.logout().status_code == 200
        for refused in (
            client.get("/alpine/api/workspaces", params={"session_id": token}),
            client.get("/alpine/api/sessions", headers={"Cookie": f"sluice_session={token}"}),
            client.get("/workfiles/" + wid, headers={"x-access-token": token}),
        ):
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["details"]["reason"] == "revoked"
