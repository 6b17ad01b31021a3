"""Fixtures that point the real CHIME/FRB `workflow` client at the session's Sluice.

The client fixes its workspace path from HOME when first imported, and every client
object of a process shares one requests.Session, so it never runs in the pytest process:
each test module gets its own agent process (`tests.contract.agent`) whose HOME is a
temporary directory where the real `workflow workspace set` activated a workspace that
names Sluice's base URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract.remote import RemoteBackend, WorkflowAgent
from tests.contract.workspace import (
    SITE,
    WorkFactory,
    WorkflowHome,
    activate_workspace,
    client_env,
)


@pytest.fixture(scope="session")
def workflow_home(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> WorkflowHome:
    """A HOME where `workflow workspace set` activated a workspace naming Sluice."""
    home = tmp_path_factory.mktemp("workflow-home")
    baseurls = {"buckets": f"{base_url}/buckets", "results": f"{base_url}/results"}
    source = tmp_path_factory.mktemp("workspace") / "sluice.yml"
    return activate_workspace(home, source, baseurls, client_env(home))


@pytest.fixture(scope="module")
def workflow_agent(
    workflow_home: WorkflowHome, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkflowAgent]:
    """A fresh client process for this test module, reading `workflow_home`."""
    log = tmp_path_factory.mktemp("workflow-agent") / "agent.log"
    with WorkflowAgent(workflow_home.env, log) as agent:
        assert agent.default_workspace() == workflow_home.workspace
        yield agent


@pytest.fixture(scope="module")
def results(workflow_agent: WorkflowAgent) -> RemoteBackend:
    """`HTTPContext(backends=["results"]).results`, as the client's users obtain it."""
    return workflow_agent.connect("results")


@pytest.fixture(scope="module")
def buckets(workflow_agent: WorkflowAgent) -> RemoteBackend:
    """`HTTPContext(backends=["buckets"]).buckets`, as the client's users obtain it."""
    return workflow_agent.connect("buckets")


@pytest.fixture(scope="module")
def make_work(workflow_agent: WorkflowAgent) -> WorkFactory:
    """`make_work(pipeline, **fields)`: the `.payload` of the client's own `Work`;
    site defaults to SITE and user to "contract"."""

    def make(pipeline: str, **fields: Any) -> dict[str, Any]:
        return workflow_agent.work(
            **{"site": SITE, "user": "contract", **fields}, pipeline=pipeline
        )

    return make
