"""Bad input through the real flowserv-core 0.9.4 client gets a clear 4xx with a JSON
`message` and changes nothing: unknown parameter, repeated argument, missing required
parameter, unknown file id, malformed orderBy, oversized upload (413, nothing stored),
unsafe file name, unknown member."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from flowserv.model.template.schema import SortColumn
from flowserv.volume.fs import FSFile
from pymongo import MongoClient
from pymongo.database import Database

from service.testing import SluiceProcess, SluiceStarter
from tests.contract.flowserv import (
    PREFIX,
    Flowserv,
    descriptor,
    isolated_token,
    message_of,
    status_of,
)
from tests.contract.flowserv_world import install, start_server
from tests.service.auth.helpers import ADMIN_SECRET

MAX_UPLOAD = 4096


@dataclass
class Board:
    server: SluiceProcess
    client: Flowserv
    workflow: str
    group: str
    upload: str


@pytest.fixture(scope="module")
def board(
    sluice_env: dict[str, str],
    start_module_sluice: SluiceStarter,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Board]:
    server = start_server(
        sluice_env,
        start_module_sluice,
        "flowserv-bad-input",
        SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
    )
    info = install(server.url, f"bad-{uuid.uuid4().hex[:8]}")
    names = tmp_path_factory.mktemp("bad") / "names.txt"
    names.write_bytes(b"Alice\n")
    with isolated_token():
        client = Flowserv.of(descriptor(server.url))
        Flowserv.use(ADMIN_SECRET)
        group = client.groups.create_group(info["id"], "team")
        handle = client.uploads.upload_file(group["id"], FSFile(str(names)), "names.txt")
        yield Board(server, client, info["id"], group["id"], handle["id"])


def _refused(call: Any, status: int) -> str:
    with pytest.raises(requests.HTTPError) as refused:
        call()
    assert status_of(refused.value) == status, message_of(refused.value)
    return message_of(refused.value)


def _names(board: Board, file_id: str | None = None) -> dict[str, Any]:
    value = {"type": "$file", "value": {"fileId": file_id or board.upload}}
    return {"name": "names", "value": value}


@pytest.mark.parametrize(
    ("arguments", "status", "says"),
    [
        ([{"name": "colour", "value": "red"}], 400, "colour"),
        ([{"name": "greeting", "value": "a"}, {"name": "greeting", "value": "b"}], 400, "twice"),
        ([{"name": "greeting", "value": "Hi"}], 400, "required"),
        ([{"name": "sleeptime", "value": "soon"}], 400, "sleeptime"),
    ],
    ids=["unknown-parameter", "duplicate", "missing-required", "wrong-type"],
)
def test_bad_arguments_start_nothing(
    board: Board, arguments: list[dict[str, Any]], status: int, says: str
) -> None:
    given = arguments if says == "required" else [_names(board), *arguments]
    message = _refused(lambda: board.client.runs.start_run(board.group, given), status)
    assert says in message
    assert board.client.runs.list_runs(board.group)["runs"] == []


@pytest.mark.parametrize("arguments", [["names"], [{"value": 1}], [{"name": 3, "value": 1}]])
def test_arguments_that_are_not_name_value_objects_are_400(board: Board, arguments: Any) -> None:
    _refused(lambda: board.client.runs.start_run(board.group, arguments), 400)
    assert board.client.runs.list_runs(board.group)["runs"] == []


def test_an_unknown_file_id_is_404_and_starts_nothing(board: Board) -> None:
    arguments = [_names(board, uuid.uuid4().hex)]
    _refused(lambda: board.client.runs.start_run(board.group, arguments), 404)
    assert board.client.runs.list_runs(board.group)["runs"] == []


@pytest.mark.parametrize("order_by", ["nope:DESC", ":ASC", "avg_count,,max_len"])
def test_a_malformed_order_is_400(board: Board, order_by: str) -> None:
    answer = httpx.get(
        f"{board.server.url}{PREFIX}/workflows/{board.workflow}/leaderboard",
        params={"orderBy": order_by, "includeAll": "False"},
        headers={"api_key": ADMIN_SECRET},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"]


def test_an_unknown_column_through_the_client_is_400(board: Board) -> None:
    order = [SortColumn("colour")]
    _refused(lambda: board.client.workflows.get_ranking(board.workflow, order_by=order), 400)


def _stored_uploads(board: Board, mongo_uri: str) -> tuple[int, int]:
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as client:
        db: Database[dict[str, Any]] = client[board.server.env["SLUICE_DB_NAME"]]
        return (
            db["leaderboard_uploads.files"].count_documents({}),
            db["leaderboard_uploads.chunks"].count_documents({}),
        )


def test_an_oversized_upload_is_413_and_stores_nothing(
    board: Board, mongo_uri: str, tmp_path: Path
) -> None:
    before = _stored_uploads(board, mongo_uri)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (MAX_UPLOAD + 1))
    uploads = board.client.uploads
    message = _refused(lambda: uploads.upload_file(board.group, FSFile(str(big)), "big.txt"), 413)
    assert "SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES" in message
    assert _stored_uploads(board, mongo_uri) == before
    assert len(uploads.list_uploaded_files(board.group)["files"]) == 1


@pytest.mark.parametrize("name", ["../x", "a/b.txt", ".."])
def test_an_unsafe_file_name_is_400_and_stores_nothing(
    board: Board, mongo_uri: str, tmp_path: Path, name: str
) -> None:
    before = _stored_uploads(board, mongo_uri)
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello")
    uploads = board.client.uploads
    _refused(lambda: uploads.upload_file(board.group, FSFile(str(small)), name), 400)
    assert _stored_uploads(board, mongo_uri) == before


def test_an_unknown_member_is_400_and_creates_nothing(board: Board) -> None:
    groups = board.client.groups
    before = groups.list_groups(board.workflow)["groups"]
    message = _refused(
        lambda: groups.create_group(board.workflow, "ghosts", members=["no-such-user"]), 400
    )
    assert "no-such-user" in message
    assert groups.list_groups(board.workflow)["groups"] == before


def test_a_second_group_of_the_same_name_is_400(board: Board) -> None:
    _refused(lambda: board.client.groups.create_group(board.workflow, "team"), 400)
