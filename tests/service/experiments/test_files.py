"""Experiment files over HTTP: streamed upload and download, atomic overwrite,
all-or-nothing removal, refused names and sizes, and a flat memory profile."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from pymongo import MongoClient

from service.embedded import EmbeddedDatabase
from service.experiments.files import BUCKET
from service.testing import SluiceProcess
from tests.service.experiments.lab import Lab
from tests.service.experiments.test_experiments import create, error_code


def url(record: dict[str, Any], name: str) -> str:
    return f"/experiments/{record['eid']}/files/{name}"


@pytest.fixture
def experiment(lab_http: httpx.Client) -> dict[str, Any]:
    return create(lab_http, "files")


def gridfs_count(lab: Lab, experiment_uuid: str) -> int:
    with MongoClient[dict[str, Any]](lab.server.env["MONGODB_URI"]) as client:
        meta = client[lab.server.env["SLUICE_DB_NAME"]][f"{BUCKET}.files"]
        return meta.count_documents({"metadata.experiment": experiment_uuid})


def test_upload_list_download(lab_http: httpx.Client, experiment: dict[str, Any]) -> None:
    data = os.urandom(700_000)
    entry = lab_http.put(url(experiment, "scan 1.h5"), content=data).json()
    assert entry["name"] == "scan 1.h5" and entry["size"] == len(data)
    assert entry["checksum"] == "sha256:" + hashlib.sha256(data).hexdigest()
    listed = lab_http.get(f"/experiments/{experiment['uuid']}/files").json()
    assert listed == [entry]
    got = lab_http.get(url(experiment, "scan%201.h5"))
    assert got.content == data and got.headers["x-checksum"] == entry["checksum"]
    shown = lab_http.get(f"/experiments/{experiment['eid']}").json()
    assert shown["files"] == [entry] and shown["updated_at"] == entry["modified_at"]


def test_empty_file(lab_http: httpx.Client, experiment: dict[str, Any]) -> None:
    assert lab_http.put(url(experiment, "empty"), content=b"").json()["size"] == 0
    assert lab_http.get(url(experiment, "empty")).content == b""


def test_overwrite_replaces_and_old_file_is_retired(
    lab: Lab, lab_http: httpx.Client, experiment: dict[str, Any]
) -> None:
    lab_http.put(url(experiment, "a.txt"), content=b"old")
    lab_http.put(url(experiment, "a.txt"), content=b"new!")
    assert lab_http.get(url(experiment, "a.txt")).content == b"new!"
    files = lab_http.get(f"/experiments/{experiment['eid']}/files").json()
    assert [(f["name"], f["size"]) for f in files] == [("a.txt", 4)]
    # The old content stays in GridFS for downloads under way, until the sweep.
    assert gridfs_count(lab, experiment["uuid"]) == 2


def test_concurrent_readers_see_old_or_new_never_a_mix(
    lab: Lab, experiment: dict[str, Any]
) -> None:
    versions = [bytes([i]) * 3_000_000 for i in range(4)]
    wanted = {hashlib.sha256(v).hexdigest() for v in versions}
    with httpx.Client(base_url=lab.url, timeout=60) as http:
        http.put(url(experiment, "big.bin"), content=versions[0])
    seen: list[str] = []
    failures: list[str] = []
    done = threading.Event()

    def read() -> None:
        with httpx.Client(base_url=lab.url, timeout=60) as http:
            while not done.is_set():
                response = http.get(url(experiment, "big.bin"))
                if response.status_code != 200:
                    failures.append(response.text)
                seen.append(hashlib.sha256(response.content).hexdigest())

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    with httpx.Client(base_url=lab.url, timeout=60) as http:
        for version in versions[1:]:
            assert http.put(url(experiment, "big.bin"), content=version).status_code == 200
    done.set()
    for reader in readers:
        reader.join()
    assert not failures
    assert seen and set(seen) <= wanted


def test_remove_files_all_or_nothing(lab_http: httpx.Client, experiment: dict[str, Any]) -> None:
    for name in ("a", "b", "c"):
        lab_http.put(url(experiment, name), content=name.encode())
    base = f"/experiments/{experiment['eid']}/files"
    refused = lab_http.delete(base, params=[("name", "a"), ("name", "zz"), ("name", "yy")])
    assert refused.status_code == 409 and error_code(refused) == "conflict"
    assert refused.json()["error"]["details"] == {"missing": ["zz", "yy"]}
    assert [f["name"] for f in lab_http.get(base).json()] == ["a", "b", "c"]
    removed = lab_http.delete(base, params=[("name", "a"), ("name", "c")])
    assert removed.json() == {"removed": ["a", "c"]}
    assert [f["name"] for f in lab_http.get(base).json()] == ["b"]
    assert lab_http.get(url(experiment, "a")).status_code == 404
    assert lab_http.delete(base).status_code == 400


def test_removing_the_experiment_deletes_its_content(
    lab: Lab, lab_http: httpx.Client, experiment: dict[str, Any]
) -> None:
    lab_http.put(url(experiment, "a"), content=b"1")
    lab_http.put(url(experiment, "a"), content=b"2")
    assert gridfs_count(lab, experiment["uuid"]) == 2
    assert lab_http.delete(f"/experiments/{experiment['eid']}").status_code == 200
    assert gridfs_count(lab, experiment["uuid"]) == 0


# A newline never reaches a handler: the router matches no route (404).
@pytest.mark.parametrize(
    ("raw", "status"),
    [("..%2Fx", 400), ("%2Fetc%2Fpasswd", 400), ("a%00b", 400), ("a%5Cb", 400),
     ("sub%2Fname", 400), ("%2E%2E", 400), ("%2E", 400), ("x%0Ay", 404)],
)  # fmt: skip
def test_path_traversal_names_refused(
    lab: Lab, lab_http: httpx.Client, experiment: dict[str, Any], raw: str, status: int
) -> None:
    path = f"/experiments/{experiment['eid']}/files/{raw}"
    response = lab_http.put(path, content=b"evil")
    assert response.status_code == status, (raw, response.text)
    assert lab_http.get(path).status_code == status
    assert lab_http.get(f"/experiments/{experiment['eid']}/files").json() == []
    assert gridfs_count(lab, experiment["uuid"]) == 0


def test_upload_to_unknown_experiment(lab_http: httpx.Client) -> None:
    assert lab_http.put("/experiments/19990101-1/files/a", content=b"x").status_code == 404
    assert lab_http.get("/experiments/19990101-1/files/a").status_code == 404


def test_declared_size_over_the_limit_is_413(
    lab: Lab, lab_http: httpx.Client, experiment: dict[str, Any]
) -> None:
    # A raw request: HTTP clients will not declare a length they do not send.
    declared = 500 * 1024 * 1024
    head = (
        f"PUT {url(experiment, 'huge')} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {declared}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", lab.server.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"x" * 1000)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"payload_too_large" in answer
    assert lab_http.get(f"/experiments/{experiment['eid']}/files").json() == []


def test_streamed_upload_over_the_limit_is_413_and_writes_nothing(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**sluice_env, "SLUICE_DB_NAME": f"{sluice_env['SLUICE_DB_NAME']}_small",
           "SLUICE_MAX_FILE_BYTES": "1000000", "SLUICE_FILE_GRACE": "0",
           "SLUICE_TASK_INTERVAL": "0.2"}  # fmt: skip
    with SluiceProcess(env, log_path=tmp_path / "small.log") as server:
        lab = Lab(server, tmp_path, "", "")
        with httpx.Client(base_url=server.url, timeout=30) as http:
            record = create(http)

            def chunks() -> Iterator[bytes]:  # chunked: no length declared
                for _ in range(20):
                    yield b"x" * 100_000

            response = http.put(url(record, "big"), content=chunks())
            assert response.status_code == 413
            assert http.get(f"/experiments/{record['eid']}/files").json() == []
            assert http.put(url(record, "fits"), content=b"x" * 1_000_000).status_code == 200
            assert gridfs_count(lab, record["uuid"]) == 1
            # Replaced content is deleted by the sweep once SLUICE_FILE_GRACE has passed.
            assert http.put(url(record, "fits"), content=b"y").status_code == 200
            deadline = time.monotonic() + 10
            while gridfs_count(lab, record["uuid"]) > 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert gridfs_count(lab, record["uuid"]) == 1
            assert http.get(url(record, "fits")).content == b"y"


#: The flat-memory upload: generated on the fly, never held by the test either.
BIG = 1024 * 1024 * 1024


@pytest.mark.slow
def test_a_1_gib_file_keeps_memory_flat(sluice_env: dict[str, str], tmp_path: Path) -> None:
    # A database on disk, as `make run` has: the in-memory test database is not sized
    # for a gigabyte.
    database = EmbeddedDatabase(storage_path=str(tmp_path / "db"), sync_on_commit=False)
    database.start()
    env = {**sluice_env, "MONGODB_URI": database.uri, "SLUICE_MAX_FILE_BYTES": str(2 * BIG)}
    server = SluiceProcess(env, log_path=tmp_path / "sluice.log").start()
    process = psutil.Process(server.pid)
    piece = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    done = threading.Event()

    peak = 0

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.05)

    def pieces() -> Iterator[bytes]:
        for _ in range(BIG // len(piece)):
            digest.update(piece)
            yield piece

    try:
        with httpx.Client(base_url=server.url, timeout=300) as http:
            experiment = http.post("/experiments", json={"title": "big", "description": ""})
            target = url(experiment.json(), "big.raw")
            baseline = peak = process.memory_info().rss
            watcher = threading.Thread(target=watch)
            watcher.start()
            try:
                headers = {"content-length": str(BIG)}
                entry = http.put(target, content=pieces(), headers=headers)
                assert entry.status_code == 200, entry.text
                assert entry.json()["checksum"] == "sha256:" + digest.hexdigest()
                back = hashlib.sha256()
                size = 0
                with http.stream("GET", target) as response:
                    for chunk in response.iter_bytes():
                        back.update(chunk)
                        size += len(chunk)
            finally:
                done.set()
                watcher.join()
    finally:
        server.stop()
        database.stop()
    assert size == BIG and back.hexdigest() == digest.hexdigest()
    growth = peak - baseline
    assert growth < 64 * 1024 * 1024, f"RSS grew by {growth / 2**20:.0f} MiB"
