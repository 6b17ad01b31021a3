"""Attacks on reports and deposits with ordinary tokens, on an auth-on Sluice.

Taking over another worker's run (the `start: null` report among them), recording an
outcome of a work nobody withdrew, squatting a work id across pipelines. The rule under
test is `service.buckets.lease`; the mover's side of squatting is in test_background.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.buckets import BIND_HEADER
from service.testing import SluiceProcess
from tests.service.auth.helpers import ADMIN_SECRET, create_token, secure_env, token_header
from tests.service.buckets.helpers import Work, new_work, put

BIND = {BIND_HEADER: "1"}


class Clients:
    """Clients of one auth-on Sluice, each with a token of its own."""

    def __init__(self, url: str, pipeline: str) -> None:
        self.url = url
        self.pipeline = pipeline
        self._open: list[httpx.Client] = []
        self.admin = self._client(ADMIN_SECRET)
        self.depositor = self.token(["deposit", "read"], [f"{pipeline}*"])
        self.worker = self.token(["work"], [f"{pipeline}*"])
        self.rival = self.token(["work"], [f"{pipeline}*"])

    def _client(self, secret: str) -> httpx.Client:
        client = httpx.Client(base_url=self.url, headers=token_header(secret), timeout=30)
        self._open.append(client)
        return client

    def token(self, scopes: list[str], pipelines: list[str]) -> httpx.Client:
        return self._client(create_token(self.url, scopes, pipelines))

    def close(self) -> None:
        for client in self._open:
            client.close()

    def deposit(self, *works: Work, by: httpx.Client | None = None) -> httpx.Response:
        client = by or self.depositor
        return client.post("/buckets/work", params={"return_ids": "True"}, json=list(works))

    def queued(self, **fields: Any) -> str:
        response = self.deposit(new_work(self.pipeline, **fields))
        assert response.status_code == 200, response.text
        work_id: str = response.json()[0]
        return work_id

    def withdraw(self, headers: dict[str, str] | None = None) -> tuple[Work, str]:
        response = self.worker.post(
            "/buckets/work/withdraw", json={"pipeline": self.pipeline}, headers=headers
        )
        assert response.status_code == 200 and response.json(), response.text
        return response.json(), response.headers["x-sluice-lease"]

    def stored(self, work_id: str) -> Work:
        response = self.admin.post("/buckets/view", json={"query": {"id": work_id}})
        (work,) = response.json()
        return dict(work)


def _start(env: dict[str, str], log: Path) -> SluiceProcess:
    return SluiceProcess(env, log_path=log).start()


@pytest.fixture(scope="module")
def secure_sluice(
    sluice_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SluiceProcess]:
    """Auth on, no reaper and no mover: nothing but the attacker touches the works."""
    env = secure_env(sluice_env, SLUICE_REAPER_INTERVAL="0", SLUICE_TRANSFER_INTERVAL="0")
    server = _start(env, tmp_path_factory.mktemp("attacks") / "sluice.log")
    yield server
    server.stop()


@pytest.fixture
def clients(secure_sluice: SluiceProcess, pipeline: str) -> Iterator[Clients]:
    made = Clients(secure_sluice.url, pipeline)
    yield made
    made.close()


def test_start_null_takeover_of_a_leased_run_is_refused(clients: Clients) -> None:
    work_id = clients.queued()
    work, lease = clients.withdraw(BIND)
    forged = {**work, "start": None, "status": "success", "results": {"forged": True}}

    assert put(clients.rival, forged).status_code == 409
    assert put(clients.rival, {**forged, "start": work["start"]}).status_code == 409
    assert put(clients.rival, {**forged, "attempt": work["attempt"] + 1}).status_code == 409
    # Taking the work from its run by requeueing it is an administrative edit.
    assert put(clients.rival, {**work, "status": "queued", "start": None}).status_code == 403
    assert clients.stored(work_id) == work

    real = {**work, "status": "success", "results": {"real": True}}
    assert put(clients.worker, real, lease=lease).json() is True
    assert clients.stored(work_id)["results"] == {"real": True}


def test_a_rival_report_against_a_tokenless_run(clients: Clients) -> None:
    clients.queued()
    work, _ = clients.withdraw()  # as the CHIME client withdraws: not bound to the lease
    # A report naming an earlier run is late; taking the run away needs admin.
    assert put(clients.rival, {**work, "attempt": 0, "status": "success"}).json() is False
    assert put(clients.rival, {**work, "status": "queued"}).status_code == 403
    assert put(clients.rival, {**work, "start": None, "status": "queued"}).status_code == 403
    assert clients.stored(work["id"]) == work
    # An administrator may.
    assert put(clients.admin, {**work, "status": "queued"}).json() is True


def test_an_outcome_of_a_work_nobody_withdrew_needs_admin(clients: Clients) -> None:
    work = clients.stored(clients.queued())
    done = {**work, "status": "success", "start": None, "results": {"forged": True}}
    assert put(clients.rival, done).status_code == 403
    assert clients.stored(work["id"])["status"] == "queued"
    assert put(clients.admin, done).json() is True


def test_lease_tokens_can_be_made_mandatory(
    sluice_env: dict[str, str], tmp_path: Path, pipeline: str
) -> None:
    env = secure_env(sluice_env, SLUICE_REQUIRE_LEASE="1", SLUICE_REAPER_INTERVAL="0")
    server = _start(env, tmp_path / "sluice.log")
    made = Clients(server.url, pipeline)
    try:
        made.queued()
        work, lease = made.withdraw()
        report = {**work, "status": "success"}
        refused = put(made.worker, report)
        assert refused.status_code == 403, refused.text
        assert "SLUICE_REQUIRE_LEASE" in refused.json()["error"]["message"]
        assert put(made.worker, report, lease=lease).json() is True
        assert put(made.admin, {**report, "results": {"by": "admin"}}).json() is True
    finally:
        made.close()
        server.stop()


def test_an_id_cannot_be_squatted_across_pipelines(clients: Clients, pipeline: str) -> None:
    theirs = f"{pipeline}-b"
    squatter = clients.token(["deposit", "read"], [f"{pipeline}-a"])
    victim = clients.token(["deposit", "read"], [theirs])
    target = uuid.uuid4().hex
    squat = new_work(f"{pipeline}-a", id=target)
    assert clients.deposit(squat, by=squatter).status_code == 200

    other = new_work(theirs)
    response = clients.deposit(other, new_work(theirs, id=target), by=victim)

    assert response.status_code == 409, response.text
    assert response.json()["error"]["details"]["ids"] == [target]
    assert target in response.json()["error"]["message"]
    # All or nothing: the victim's other work was not queued either; the squat stays.
    listed = clients.admin.post("/buckets/view", json={"query": {"pipeline": theirs}})
    assert listed.json() == []
    assert clients.stored(target)["pipeline"] == f"{pipeline}-a"


def test_a_blind_retry_after_a_worker_took_the_work_is_already_there(clients: Clients) -> None:
    sent = new_work(clients.pipeline)
    (work_id,) = clients.deposit(sent).json()
    work, lease = clients.withdraw(BIND)
    assert put(clients.worker, {**work, "status": "success"}, lease=lease).json() is True

    again = clients.deposit(sent)

    assert again.status_code == 200 and again.json() == [work_id]
    assert clients.stored(work_id)["status"] == "success"
    # The same id with any deposited field changed, by type only, is another work.
    changed = clients.deposit({**sent, "id": work_id, "parameters": {"a": True}})
    assert changed.status_code == 409 and changed.json()["error"]["details"]["ids"] == [work_id]
