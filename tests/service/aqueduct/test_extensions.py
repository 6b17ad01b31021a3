"""`extensions` and `executeExtension` over GraphQL: manifests as pyaqueduct reads them,
text parameters typed by the action's declaration, a run waited for within the request
and, past SLUICE_AQUEDUCT_EXECUTE_WAIT, an error naming the task, which carries on."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from service.testing import SluiceStarter
from tests.service.aqueduct.helpers import create, error_codes, graphql, stored
from tests.service.experiments.lab import Lab, StartWorker

EXTENSIONS = (
    "{ extensions { name authors description actions { name description "
    "experimentVariableName parameters { name displayName description dataType "
    "defaultValue options } } } }"
)
EXECUTE = (
    "mutation ($extension: String!, $action: String!, $params: [[String!]!]!) { "
    "executeExtension(params: $params, extension: $extension, action: $action) { "
    "logExperiment logFile returnCode stderr stdout taskId } }"
)


@pytest.fixture(scope="module")
def impatient(lab: Lab, start_module_sluice: SluiceStarter) -> Iterator[httpx.Client]:
    """A second Sluice on the lab's database that waits one second for a run."""
    server = start_module_sluice("impatient", **lab.server.env, SLUICE_AQUEDUCT_EXECUTE_WAIT="1")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_manifests_as_the_client_reads_them(lab_http: httpx.Client) -> None:
    found = graphql(lab_http, EXTENSIONS)["data"]["extensions"]
    assert [e["name"] for e in found] == ["demo", "idle"]
    greet = found[0]["actions"][0]
    assert greet["experimentVariableName"] == "exp"
    params = {p["name"]: p for p in greet["parameters"]}
    assert params["loud"]["defaultValue"] == "0" and params["times"]["defaultValue"] == "1"
    assert params["mode"]["options"] == ["fast", "slow"] and params["who"]["defaultValue"] is None
    # An action without description nor experiment parameter: "" (pyaqueduct cannot read null)
    wait = found[1]["actions"][0]
    assert (wait["description"], wait["experimentVariableName"]) == ("", "")


@pytest.mark.parametrize(
    ("action", "params", "code"),
    [
        ("greet", [["exp", "EID"], ["who", "x"], ["times", "many"]], "validation_failed"),
        # Past 64 bits: no BSON integer (it was a 500 when the task was stored).
        ("greet", [["exp", "EID"], ["who", "x"], ["times", "9" * 23]], "validation_failed"),
        ("greet", [["exp", "EID"], ["who", "x"], ["times", str(2**63)]], "validation_failed"),
        ("greet", [["exp", "EID"], ["who", "x"], ["loud", "maybe"]], "validation_failed"),
        ("greet", [["exp", "EID"], ["who", "x"], ["ratio", "nan"]], "validation_failed"),
        ("greet", [["exp", "EID"], ["who", "x"], ["mode", "medium"]], "validation_failed"),
        ("greet", [["exp", "EID"], ["who", "x"], ["surprise", "1"]], "validation_failed"),
        ("greet", [["exp", "19990101-1"], ["who", "x"]], "validation_failed"),
        ("greet", [["exp", "EID"]], "validation_failed"),  # who is missing
        ("greet", [["exp", "EID"], ["who", "x"], ["who", "y"]], "bad_request"),
        ("greet", [["exp", "EID"], ["who"]], "bad_request"),
        ("inspect", [["exp", "EID"], ["data", "../etc/passwd"]], "validation_failed"),
        ("nope", [], "not_found"),
    ],
)
def test_bad_runs_queue_nothing(
    lab_http: httpx.Client, action: str, params: list[list[str]], code: str
) -> None:
    eid = create(lab_http)["eid"]
    params = [[eid if v == "EID" else v for v in pair] for pair in params]
    before = stored(lab_http)
    answer = graphql(lab_http, EXECUTE, {"extension": "demo", "action": action, "params": params})
    assert answer["data"] is None and error_codes(answer) == [code], answer
    assert stored(lab_http) == before


def test_a_run_is_waited_for(lab_http: httpx.Client, lab_worker: StartWorker) -> None:
    record = create(lab_http)
    worker = lab_worker(1)
    params = [["exp", record["uuid"]], ["who", "Ada"], ["loud", "True"], ["times", "2"],
              ["ratio", "1.5"]]  # fmt: skip
    answer = graphql(lab_http, EXECUTE, {"extension": "demo", "action": "greet", "params": params})
    worker.communicate(timeout=30)
    result = answer["data"]["executeExtension"]
    assert result["returnCode"] == 0, answer
    assert result["stdout"] == "hello Ada loud=true times=2 ratio=1.5 mode=fast"
    assert result["logExperiment"] == record["eid"]
    task = lab_http.get(f"/tasks/{result['taskId']}").json()
    assert task["status"] == "SUCCESS" and task["parameters"]["loud"] is True
    files = [f["name"] for f in lab_http.get(f"/experiments/{record['eid']}/files").json()]
    assert result["logFile"] in files


def test_a_failing_run_is_data_not_an_error(
    lab_http: httpx.Client, lab_worker: StartWorker
) -> None:
    record = create(lab_http)
    worker = lab_worker(1)
    params = [["exp", record["eid"]]]
    answer = graphql(lab_http, EXECUTE, {"extension": "demo", "action": "fail", "params": params})
    worker.communicate(timeout=30)
    result = answer["data"]["executeExtension"]
    assert (result["returnCode"], result["stdout"]) == (3, "about to fail"), answer
    assert "oops" in result["stderr"]


def test_past_the_wait_the_error_names_the_task(
    impatient: httpx.Client, lab_http: httpx.Client
) -> None:
    # No worker ever takes the idle extension's pipeline.
    answer = graphql(impatient, EXECUTE, {"extension": "idle", "action": "wait", "params": []})
    assert answer["data"] is None and error_codes(answer) == ["still_running"], answer
    task_id = answer["errors"][0]["extensions"]["details"]["task_id"]
    assert task_id in answer["errors"][0]["message"]
    task = lab_http.get(f"/tasks/{task_id}").json()
    assert task["status"] == "PENDING"
    assert lab_http.post(f"/tasks/{task_id}/cancel").status_code == 200
