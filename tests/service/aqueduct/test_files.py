"""The Aqueduct file routes: multipart uploads streamed into the experiment's files,
downloads with Content-Length and no compression, all-or-nothing removal; bad input is
a 4xx that stores nothing."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.service.aqueduct.helpers import create
from tests.service.experiments.lab import LAB_MAX_FILE, Lab

FILES = "/aqueduct/api/files"


def upload(
    http: httpx.Client, experiment_uuid: str, name: str | None, content: bytes
) -> httpx.Response:
    headers = {} if name is None else {"file_name": name}
    return http.post(
        f"{FILES}/{experiment_uuid}", headers=headers, files={"file": ("ignored.bin", content)}
    )


def names(http: httpx.Client, experiment: dict[str, Any]) -> list[str]:
    return [f["name"] for f in http.get(f"/experiments/{experiment['eid']}/files").json()]


def test_upload_download_overwrite(lab_http: httpx.Client) -> None:
    record = create(lab_http)
    answer = upload(lab_http, record["uuid"], "hello world.csv", b"a,b\n1,2\n")
    assert answer.status_code == 200, answer.text
    assert names(lab_http, record) == ["hello world.csv"]
    got = lab_http.get(
        f"{FILES}/{record['uuid']}/hello%20world.csv", headers={"Accept-Encoding": "gzip"}
    )
    assert got.status_code == 200 and got.content == b"a,b\n1,2\n"
    assert got.headers["content-length"] == "8" and "content-encoding" not in got.headers
    assert got.headers["content-type"].startswith("text/csv")
    assert upload(lab_http, record["uuid"], "hello world.csv", b"new").status_code == 200
    assert lab_http.get(f"{FILES}/{record['uuid']}/hello world.csv").content == b"new"
    # The same file natively
    assert lab_http.get(f"/experiments/{record['eid']}/files/hello world.csv").content == b"new"


def test_other_fields_are_ignored_and_the_file_part_streams(lab_http: httpx.Client) -> None:
    record = create(lab_http)
    content = bytes(range(256)) * 8192  # 2 MiB, several GridFS chunks
    answer = lab_http.post(
        f"{FILES}/{record['uuid']}",
        headers={"file_name": "blob.bin"},
        data={"note": "x" * 1000},
        files={"file": ("blob.bin", content)},
    )
    assert answer.status_code == 200, answer.text
    assert lab_http.get(f"{FILES}/{record['uuid']}/blob.bin").content == content


@pytest.mark.parametrize(
    "name", ["../escape.txt", "a/b.txt", "..", ".", "", "x" * 256, "tab\there", "a\\b"]
)
def test_bad_names_store_nothing(lab_http: httpx.Client, name: str) -> None:
    record = create(lab_http)
    assert upload(lab_http, record["uuid"], name, b"data").status_code == 400
    assert names(lab_http, record) == []


def test_bad_uploads_store_nothing(lab_http: httpx.Client) -> None:
    record = create(lab_http)
    url = f"{FILES}/{record['uuid']}"
    assert upload(lab_http, record["uuid"], None, b"data").status_code == 400  # no file_name
    raw = lab_http.post(url, headers={"file_name": "a.txt"}, content=b"raw bytes")
    assert raw.status_code == 400
    boundary = "b0undary"
    kind = {"file_name": "a.txt", "content-type": f"multipart/form-data; boundary={boundary}"}
    other = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    no_part = lab_http.post(url, headers=kind, content=other)
    assert no_part.status_code == 400 and "no part named 'file'" in no_part.text
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
    ).encode()
    truncated = lab_http.post(url, headers=kind, content=part + b"half of it")
    assert truncated.status_code == 400
    twice = part + b"one\r\n" + part + b"two\r\n" + f"--{boundary}--\r\n".encode()
    assert lab_http.post(url, headers=kind, content=twice).status_code == 400
    assert lab_http.post(url, headers=kind, content=b"garbage" * 100).status_code == 400
    assert names(lab_http, record) == []
    unknown = "00000000-0000-4000-8000-000000000000"
    assert upload(lab_http, unknown, "a.txt", b"x").status_code == 404
    assert upload(lab_http, "not-a-uuid", "a.txt", b"x").status_code == 400
    assert upload(lab_http, record["eid"], "a.txt", b"x").status_code == 400


def test_uploads_respect_the_file_size_limit(lab: Lab, lab_http: httpx.Client) -> None:
    record = create(lab_http)
    # Past the lab's SLUICE_MAX_FILE_BYTES, declared up front: refused before the body.
    address = urlsplit(lab.url)
    head = (
        f"POST {FILES}/{record['uuid']} HTTP/1.1\r\nHost: {address.netloc}\r\n"
        "file_name: big.bin\r\ncontent-type: multipart/form-data; boundary=x\r\n"
        f"content-length: {LAB_MAX_FILE + 10 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(head.encode())
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert names(lab_http, record) == []


def test_downloads_of_what_is_not_there(lab_http: httpx.Client) -> None:
    record = create(lab_http)
    missing = lab_http.get(f"{FILES}/{record['uuid']}/missing.txt")
    assert missing.status_code == 404 and int(missing.headers["content-length"]) > 0
    assert lab_http.get(f"{FILES}/{record['uuid']}/..").status_code in (400, 404)
    assert lab_http.get(f"{FILES}/{record['uuid']}/%2E%2E").status_code == 400
    assert lab_http.get(f"{FILES}/{record['uuid']}/a%2Fb").status_code == 404
    assert lab_http.get(f"{FILES}/not-a-uuid/a.txt").status_code == 400


def test_delete_files_all_or_nothing(lab_http: httpx.Client) -> None:
    record = create(lab_http)
    for name in ("a.txt", "b.txt", "c.txt"):
        assert upload(lab_http, record["uuid"], name, b"x").status_code == 200
    url = f"{FILES}/{record['uuid']}/delete_files"
    partly = lab_http.post(url, json={"file_list": ["a.txt", "nope.txt"]})
    assert partly.status_code == 409 and "nope.txt" in partly.text
    assert sorted(names(lab_http, record)) == ["a.txt", "b.txt", "c.txt"]
    assert lab_http.post(url, json={"file_list": []}).status_code == 422
    assert lab_http.post(url, json={"file_list": ["../c.txt"]}).status_code == 400
    done = lab_http.post(url, json={"file_list": ["a.txt", "b.txt", "a.txt"]})
    assert done.status_code == 200, done.text
    assert names(lab_http, record) == ["c.txt"]
