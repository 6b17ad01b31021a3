"""The real CHIME/FRB `workflow` client against a Sluice requiring tokens: with
WORKFLOW_HTTP_TOKEN set it sends `x-access-token` and everything works; without it
every non-public call is refused with 401. (Every other contract test runs the client
without a token against a Sluice with auth off.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from service.testing import SluiceProcess, SluiceStarter
from tests.contract.remote import ClientHTTPError, RemoteBackend, WorkflowAgent
from tests.contract.workspace import SITE, activate_workspace, client_env
from tests.service.auth.helpers import create_token, secure_env


@pytest.fixture(scope="module")
def secure_sluice(sluice_env: dict[str, str], start_module_sluice: SluiceStarter) -> SluiceProcess:
    return start_module_sluice("secure-contract", **secure_env(sluice_env))


def _agent(
    server: SluiceProcess, tmp_path_factory: pytest.TempPathFactory, token: str | None
) -> WorkflowAgent:
    home = tmp_path_factory.mktemp("workflow-home-auth")
    env = client_env(home)
    if token is not None:
        env["WORKFLOW_HTTP_TOKEN"] = token
    baseurls = {"buckets": f"{server.url}/buckets", "results": f"{server.url}/results"}
    source = tmp_path_factory.mktemp("workspace-auth") / "sluice.yml"
    activated = activate_workspace(home, source, baseurls, env)
    return WorkflowAgent(activated.env, home / "agent.log")


@pytest.fixture(scope="module")
def with_token(
    secure_sluice: SluiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkflowAgent]:
    """The client with a token holding read, deposit and work."""
    secret = create_token(secure_sluice.url, ["read", "deposit", "work"], owner="chime")
    with _agent(secure_sluice, tmp_path_factory, secret) as agent:
        yield agent


@pytest.fixture(scope="module")
def without_token(
    secure_sluice: SluiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkflowAgent]:
    with _agent(secure_sluice, tmp_path_factory, None) as agent:
        yield agent


def _work(agent: WorkflowAgent, pipeline: str, **fields: Any) -> dict[str, Any]:
    return agent.work(**{"site": SITE, "user": "contract", **fields}, pipeline=pipeline)


def test_the_client_works_with_a_token(with_token: WorkflowAgent, pipeline: str) -> None:
    results: RemoteBackend = with_token.connect("results")
    buckets: RemoteBackend = with_token.connect("buckets")
    finished = _work(with_token, pipeline, status="success", event=[7])
    assert results.deposit([finished]) == {pipeline: True}
    assert results.count(pipeline, {}) == 1
    assert [d["event"] for d in results.view(pipeline, {}, limit=-1)] == [[7]]
    assert buckets.deposit([_work(with_token, pipeline)]) is True
    claimed = buckets.withdraw(pipeline)
    assert claimed["status"] == "running"
    claimed["status"] = "success"
    assert buckets.update([with_token.parse(claimed)]) is True
    # The token has no admin scope: deleting is refused.
    with pytest.raises(ClientHTTPError) as caught:
        results.delete_ids(pipeline, [finished["id"]])
    assert caught.value.status_code == 403


def test_the_client_without_a_token_is_refused(without_token: WorkflowAgent, pipeline: str) -> None:
    results: RemoteBackend = without_token.connect("results")
    buckets: RemoteBackend = without_token.connect("buckets")
    # (Calls the client does not retry for 30 s on an error.)
    calls: list[Callable[[], Any]] = [
        lambda: results.count(pipeline, {}),
        lambda: results.deposit([_work(without_token, pipeline, status="success")]),
        lambda: buckets.withdraw(pipeline),
    ]
    for call in calls:
        with pytest.raises(ClientHTTPError) as caught:
            call()
        assert caught.value.status_code == 401
        assert caught.value.body["error"]["code"] == "unauthorized"
