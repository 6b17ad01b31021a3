"""The file sweep (service.sweep) on a real Sluice whose grace period is one second:
what nothing will ever read goes, what a run records or may still record stays, and
an upload still under way keeps its chunks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from service.testing import SluiceProcess, SluiceStarter
from tests.service.workfiles.helpers import FAST, JOBS, as_yaml
from tests.service.workfiles.test_workfiles import upload
from tests.sluice.buckets.conftest import wait_for

Db = Database[dict[str, Any]]
GRACE = 1.0


def sweeping(start_sluice: SluiceStarter, grace: float) -> SluiceProcess:
    """A Sluice sweeping every 0.2 s with a grace period of `grace` seconds."""
    return start_sluice(
        "sweep", SLUICE_ORPHAN_FILE_SECONDS=str(grace), SLUICE_SWEEP_INTERVAL="0.2", **FAST
    )


@pytest.fixture
def client(mongo_uri: str) -> Iterator[MongoClient[dict[str, Any]]]:
    opened: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as opened:
        yield opened


def database_of(client: MongoClient[dict[str, Any]], sluice: SluiceProcess) -> Db:
    return client[sluice.env["SLUICE_DB_NAME"]]


def claim(http: httpx.Client, pipeline: str) -> tuple[dict[str, Any], str]:
    def withdrawn() -> Any:
        answer = http.post("/buckets/work/withdraw", json={"pipeline": pipeline})
        return answer.json() and (answer.json(), answer.headers["x-sluice-lease"])

    found: tuple[dict[str, Any], str] = wait_for(withdrawn, what="a step to be queued")
    return found


def put_output(http: httpx.Client, work_id: str, lease: str, content: bytes) -> ObjectId:
    answer = http.put(
        f"/workfiles/steps/{work_id}/outputs/0", content=content, headers={"x-sluice-lease": lease}
    )
    assert answer.status_code == 201, answer.text
    return ObjectId(answer.json()["id"])


def stored(db: Db, bucket: str, file_id: ObjectId) -> bool:
    return db[f"{bucket}.files"].find_one({"_id": file_id}) is not None


def complete_file(db: Db, bucket: str, metadata: dict[str, Any]) -> ObjectId:
    """A GridFS file of one chunk written straight to `bucket`, as an upload would have
    left it had it crashed before its owner recorded it."""
    file_id = ObjectId()
    db[f"{bucket}.chunks"].insert_one({"files_id": file_id, "n": 0, "data": b"lost"})
    db[f"{bucket}.files"].insert_one({"_id": file_id, "length": 4, "chunkSize": 261120,
                                      "uploadDate": datetime.now(UTC), "filename": "lost",
                                      "metadata": metadata})  # fmt: skip
    return file_id


def test_outputs_no_run_records_are_swept_and_recorded_ones_kept(
    start_sluice: SluiceStarter, client: MongoClient[dict[str, Any]], pipeline: str
) -> None:
    swept = sweeping(start_sluice, GRACE)
    db = database_of(client, swept)
    flow = {"name": "two", "pipeline": pipeline, "site": "local", "operators": [
        {"name": "make", "function": f"{JOBS}.add", "retries": 0, "outputs": ["a.txt"]},
        {"name": "next", "function": f"{JOBS}.add", "retries": 0, "outputs": ["b.txt"],
         "depends_on": ["make"]},
    ]}  # fmt: skip
    with httpx.Client(base_url=swept.url, timeout=30) as http:
        info = upload(http, f"ws-{uuid.uuid4().hex[:8]}", "two.yaml", as_yaml(flow)).json()
        process_id = http.post(f"/workfiles/{info['id']}/processes", json={}).json()["process_id"]
        work, lease = claim(http, pipeline)
        # The same path uploaded twice: the run records the newer file only.
        replaced = put_output(http, work["id"], lease, b"first")
        recorded = put_output(http, work["id"], lease, b"second")
        report = {**work, "status": "success", "results": {}, "stop": work["start"] + 0.1}
        assert http.put(
            "/buckets/work", json=[report], headers={"x-sluice-lease": lease}
        ).is_success
        # The next step is running: what it uploaded may still be recorded.
        following, following_lease = claim(http, pipeline)
        pending = put_output(http, following["id"], following_lease, b"pending")
        wait_for(lambda: not stored(db, "workfiles_files", replaced), what="the replaced output")
        time.sleep(GRACE + 0.5)  # several passes past the grace of all three files
        assert stored(db, "workfiles_files", recorded)
        assert stored(db, "workfiles_files", pending)
        answer = http.get(f"/workfiles/processes/{process_id}/files/{recorded}")
        assert answer.status_code == 200 and answer.content == b"second"


def test_chunks_of_abandoned_uploads_are_swept_and_those_under_way_kept(
    start_sluice: SluiceStarter, client: MongoClient[dict[str, Any]]
) -> None:
    # A minute's grace: the upload started during the test stays well within it.
    db = database_of(client, sweeping(start_sluice, 60.0))
    buckets = ["workfiles", "workfiles_files", "experiment_files", "leaderboard_uploads",
               "aero_blobs"]  # fmt: skip
    abandoned = {bucket: ObjectId.from_datetime(datetime.now(UTC) - timedelta(hours=1))
                 for bucket in buckets}  # fmt: skip
    for bucket in buckets:
        db[f"{bucket}.chunks"].insert_many(
            [{"files_id": abandoned[bucket], "n": n, "data": b"x"} for n in (0, 1)]
        )
    # An upload as old whose files document was written is complete: kept (step outputs
    # and AERO blobs are swept whole when nothing references them: other tests).
    complete = {}
    for bucket in ("workfiles", "experiment_files", "leaderboard_uploads"):
        chunks = db[f"{bucket}.chunks"]
        complete[bucket] = ObjectId.from_datetime(datetime.now(UTC) - timedelta(minutes=59))
        chunks.insert_one({"files_id": complete[bucket], "n": 0, "data": b"y"})
        db[f"{bucket}.files"].insert_one({"_id": complete[bucket], "length": 1, "chunkSize": 1,
                                          "uploadDate": datetime.now(UTC), "filename": "kept",
                                          "metadata": {"sha256": uuid.uuid4().hex}})  # fmt: skip
    # An upload that started just now, without its files document yet: under way.
    under_way = ObjectId()
    db["workfiles_files.chunks"].insert_one({"files_id": under_way, "n": 0, "data": b"z"})

    def swept_all() -> bool:
        return all(
            db[f"{bucket}.chunks"].count_documents({"files_id": abandoned[bucket]}) == 0
            for bucket in buckets
        )

    wait_for(swept_all, what="the abandoned uploads' chunks")
    assert db["workfiles_files.chunks"].count_documents({"files_id": under_way}) == 1
    for bucket, file_id in complete.items():
        assert db[f"{bucket}.chunks"].count_documents({"files_id": file_id}) == 1


def test_blobs_no_version_holds_are_swept_and_held_ones_kept(
    start_sluice: SluiceStarter, client: MongoClient[dict[str, Any]]
) -> None:
    swept = sweeping(start_sluice, GRACE)
    db = database_of(client, swept)
    with httpx.Client(base_url=swept.url, timeout=30) as http:
        data_id = http.post("/aero/data", json={"name": "kept"}).json()["id"]
        assert http.post(f"/aero/data/{data_id}/versions", content=b"held bytes").is_success
        # Bytes stored whose version was never written (a crash between the two).
        unheld = complete_file(db, "aero_blobs", {"sha256": "0" * 64, "md5": "0" * 32})
        wait_for(lambda: not stored(db, "aero_blobs", unheld), what="the unheld blob")
        assert db["aero_blobs.chunks"].count_documents({"files_id": unheld}) == 0
        time.sleep(GRACE + 0.5)  # several passes past the grace of the held blob too
        answer = http.get(f"/aero/data/{data_id}/versions/1/content")
        assert answer.status_code == 200 and answer.content == b"held bytes"


def test_files_their_owners_never_recorded_are_swept(
    start_sluice: SluiceStarter, client: MongoClient[dict[str, Any]], pipeline: str
) -> None:
    swept = sweeping(start_sluice, GRACE)
    db = database_of(client, swept)
    workflow = {"name": "one", "pipeline": pipeline, "site": "local",
                "operators": [{"name": "a", "function": f"{JOBS}.add"}]}  # fmt: skip
    with httpx.Client(base_url=swept.url, timeout=30) as http:
        info = upload(http, f"ws-{uuid.uuid4().hex[:8]}", "one.yaml", as_yaml(workflow)).json()
        lost_version = complete_file(db, "workfiles", {"workspace": "w", "file_name": "x.yaml"})
        lost_upload = complete_file(db, "leaderboard_uploads", {"group": "gone", "upload": "u"})
        lost_file = complete_file(db, "experiment_files", {"experiment": "gone", "name": "n"})

        def retired() -> bool:
            # An experiment file is retired (deleted SLUICE_FILE_GRACE later), not deleted.
            found = db["experiment_files.files"].find_one({"_id": lost_file})
            return found is not None and "retired_at" in found["metadata"]

        wait_for(
            lambda: (
                not stored(db, "workfiles", lost_version)
                and not stored(db, "leaderboard_uploads", lost_upload)
                and retired()
            ),
            what="the files nobody recorded",
        )
        time.sleep(GRACE + 0.5)  # several passes past the grace of the workfile's file too
        answer = http.get(f"/workfiles/{info['id']}/content")
        assert answer.status_code == 200 and b"one" in answer.content
