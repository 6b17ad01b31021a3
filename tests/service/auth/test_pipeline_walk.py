"""The route walk: a token limited to pipeline A, of each scope, gets 403 or an answer
without pipeline B in it from every route of the route table, and changes nothing of B.

Every route needs a case in pipeline_cases.CASES (its docstring says how to add one);
a route without one fails `test_every_route_has_a_pipeline_case`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.routing import EndpointRoute, walk
from service.settings import Settings
from service.testing import SluiceProcess
from tests.service.auth.helpers import ADMIN_SECRET, create_token, token_header
from tests.service.auth.pipeline_cases import CASES, Case
from tests.service.auth.pipeline_world import (
    EVENT_HOST,
    World,
    build,
    manifest,
    names,
    snapshot,
)

SCOPES = ("read", "deposit", "work", "admin")


def route_table() -> dict[tuple[str, str], str]:
    """Every (method, full path) of the app's route table with its scope; HEAD is
    left out (each GET answers it)."""
    app = create_app(Settings(mongodb_uri="mongodb://127.0.0.1:1", auth="off"))
    table: dict[tuple[str, str], str] = {}
    for path, route in walk(list(app.routes)):
        if not isinstance(route, EndpointRoute):
            table[("*", path)] = "undeclared"
            continue
        for method in route.spec.methods:
            if method != "HEAD":
                table[(method, path)] = route.spec.scope
    return table


def test_every_route_has_a_pipeline_case() -> None:
    table = route_table()
    missing = sorted(set(table) - set(CASES))
    assert not missing, f"routes without a case in pipeline_cases.CASES: {missing}"
    stale = sorted(set(CASES) - set(table))
    assert not stale, f"cases of routes that do not exist: {stale}"
    for key, case in CASES.items():
        assert (case.expect == "public") == (table[key] == "public"), key
        assert case.expect == "public" or case.calls, f"{key}: a case needs calls"
        assert case.expect != "shared" or case.reason, f"{key}: say why it is shared"


@pytest.fixture(scope="module")
def server(
    secure_env_vars: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SluiceProcess]:
    """An auth-on Sluice whose background passes cannot change B's objects under the
    walk: no reaper, no mover, workers listed for an hour."""
    directory = tmp_path_factory.mktemp("walk")
    extensions = directory / "extensions"
    extensions.mkdir()
    env = {
        **secure_env_vars,
        "SLUICE_DB_NAME": f"{secure_env_vars['SLUICE_DB_NAME']}_walk",
        "SLUICE_EXTENSIONS_DIR": str(extensions),
        "SLUICE_REAPER_INTERVAL": "0",
        "SLUICE_TRANSFER_INTERVAL": "0",
        "SLUICE_WORKER_STALE": "3600",
        "SLUICE_AERO_INGEST_HOSTS": EVENT_HOST,
    }
    with SluiceProcess(env, log_path=directory / "sluice.log") as process:
        yield process


@pytest.fixture(scope="module")
def world(server: SluiceProcess) -> World:
    a, b, allowed = names()
    extensions = Path(server.env["SLUICE_EXTENSIONS_DIR"])
    # Manifests are read on every request: the extension exists from now on.
    (extensions / "probe.json").write_text(json.dumps(manifest(b)))
    with httpx.Client(base_url=server.url, headers=token_header(ADMIN_SECRET), timeout=30) as c:
        return build(c, a, b, allowed, server.env)


def violations(client: httpx.Client, world: World, key: tuple[str, str], case: Case) -> list[str]:
    """What `client`'s answers to `case`'s calls break."""
    method, route = key
    found = []
    for made in case.calls:
        path, arguments = made.build(world)
        answer = client.request(method, path, **arguments)
        where = f"{method} {route} ({path})"
        status = answer.status_code
        if status >= 500 or status == 401:
            found.append(f"{where}: {status} {answer.text[:200]}")
        elif case.expect == "forbidden" and status != 403:
            found.append(f"{where}: {status}, not 403: {answer.text[:200]}")
        elif case.expect == "hidden" and status != 403:
            assert case.check is not None
            if status != 200 or not case.check(world, answer.json()):
                found.append(f"{where}: {status} shows pipeline B: {answer.text[:300]}")
    return found


@pytest.mark.parametrize("scope", SCOPES)
def test_a_token_of_pipeline_a_reaches_nothing_of_b(
    server: SluiceProcess, world: World, scope: str
) -> None:
    secret = create_token(server.url, [scope], [world.allowed])
    with httpx.Client(base_url=server.url, timeout=30) as admin:
        admin.headers.update(token_header(ADMIN_SECRET))
        before = snapshot(admin, world)
        with httpx.Client(base_url=server.url, headers=token_header(secret), timeout=30) as c:
            broken = [
                problem
                for key, case in CASES.items()
                for problem in violations(c, world, key, case)
            ]
        assert not broken, "\n".join(broken)
        assert snapshot(admin, world) == before


def test_the_walk_catches_an_unrestricted_token(server: SluiceProcess, world: World) -> None:
    # The same walk with the bootstrap admin (reads only: it would change B otherwise)
    # must report routes reaching B, or the walk proves nothing.
    reads = {
        key: case
        for key, case in CASES.items()
        if key[0] == "GET" and not key[1].startswith("/buckets/audit/")
    }
    with httpx.Client(base_url=server.url, headers=token_header(ADMIN_SECRET), timeout=30) as c:
        broken = {key for key, case in reads.items() if violations(c, world, key, case)}
    expected = {key for key, case in reads.items() if case.expect in ("forbidden", "hidden")}
    assert broken == expected
