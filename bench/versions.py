"""Data versions: commits per second through Sluice against the same writes done
straight with PyMongo on the same database, in the same run.

(a) distinct versions: `commits` uploads of distinct bytes to one source
    (`POST /aero/data/{id}/versions`) vs, in PyMongo, what a commit writes: the GridFS
    chunk and files documents of the blob, then in one transaction the source's
    conditional update taking the next number and the version's insert;
(b) unchanged re-ingestions: `commits` ingestions of a local upstream answering the
    same bytes without validators (`POST /aero/data/{id}/ingest`: fetch, hash, find the
    content known, no version) vs, in the same process as the baseline, the same fetch
    with httpx, the sha256 and the reads that find it unchanged (blob by hash, the
    conditional update matching nothing, the source and its latest version).

Sluice and the baseline alternate commit by commit, so any drift of the database's
speed falls on both alike; the ratio is what Sluice adds (HTTP, JSON, validation).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.database import Database

from bench.common import Comparison, Context, Document, mongo_client, report, serve
from service.data.store import DATA, VERSIONS

#: Bytes of each committed content.
PAYLOAD = 4096
#: Untimed commits each way before timing: connections, imports and indexes warm up.
WARMUP = 5
#: The baseline's own collections (the same documents Sluice writes to its own).
SCRATCH = "bench-scratch.aero"


def _payload(index: int) -> bytes:
    return f"{index:08d}".encode() * (PAYLOAD // 8)


@contextmanager
def _upstream(body: bytes) -> Iterator[str]:
    """A local HTTP server answering `body` on every path, with no ETag or date."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/data.csv"
    finally:
        server.shutdown()
        server.server_close()


class RawCommits:
    """A version commit's writes and an unchanged commit's reads, in PyMongo."""

    def __init__(self, db: Database[Document]) -> None:
        self.client = db.client
        self.data = db[f"{SCRATCH}.{DATA}"]
        self.versions = db[f"{SCRATCH}.{VERSIONS}"]
        self.files = db[f"{SCRATCH}.blobs.files"]
        self.chunks = db[f"{SCRATCH}.blobs.chunks"]
        self.versions.create_index([("data_id", 1), ("version", 1)], unique=True)
        self.files.create_index("metadata.sha256", unique=True)
        self.data_id = str(uuid.uuid4())
        self.data.insert_one({"_id": self.data_id, "latest": None, "version_count": 0})

    def commit(self, content: bytes) -> None:
        sha256 = hashlib.sha256(content).hexdigest()
        md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
        if self.files.find_one({"metadata.sha256": sha256}) is None:
            file_id = ObjectId()
            self.chunks.insert_many([{"files_id": file_id, "n": 0, "data": content}])
            self.files.insert_one({"_id": file_id, "length": len(content), "chunkSize": 261120,
                                   "uploadDate": datetime.now(UTC), "filename": sha256,
                                   "metadata": {"sha256": sha256, "md5": md5}})  # fmt: skip
        key = f"sha256:{sha256}"
        with self.client.start_session() as session, session.start_transaction():
            latest = {"version_id": str(uuid.uuid4()), "key": key, "sha256": sha256,
                      "checksum": md5, "created_at": datetime.now(UTC)}  # fmt: skip
            updated = self.data.find_one_and_update(
                {"_id": self.data_id, "latest.key": {"$ne": key}},
                {"$inc": {"version_count": 1}, "$set": {"latest": latest}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if updated is None:
                current = self.data.find_one({"_id": self.data_id}, session=session)
                assert current is not None
                self.versions.find_one({"_id": current["latest"]["version_id"]}, session=session)
                return
            number = updated["version_count"]
            self.data.update_one({"_id": self.data_id}, {"$set": {"latest.version": number}},
                                 session=session)  # fmt: skip
            self.versions.insert_one(
                {"_id": latest["version_id"], "data_id": self.data_id, "version": number,
                 "sha256": sha256, "checksum": md5, "size": len(content),
                 "created_at": latest["created_at"]},
                session=session,
            )  # fmt: skip


def _alternate(
    count: int, sluice: Callable[[int], object], raw: Callable[[int], object]
) -> tuple[float, float]:
    for index in range(WARMUP):
        sluice(-1 - index)
        raw(-1 - index)
    sluice_seconds = raw_seconds = 0.0
    for index in range(count):
        started = time.perf_counter()
        sluice(index)
        sluice_seconds += time.perf_counter() - started
        started = time.perf_counter()
        raw(index)
        raw_seconds += time.perf_counter() - started
    return sluice_seconds, raw_seconds


def _checked(answer: httpx.Response, status: int) -> Document:
    if answer.status_code != status:
        raise RuntimeError(f"{answer.request.url} answered {answer.status_code}: {answer.text}")
    body: Document = answer.json()
    return body


def run(ctx: Context) -> list[Comparison]:
    """Run (a) and (b); print a table for each and return the figures."""
    count = ctx.options.commits
    content = _payload(10**7)
    with (
        _upstream(content) as url,
        serve(ctx, "sluice-versions", env={"SLUICE_AERO_INGEST_HOSTS": "127.0.0.1"}) as sluice,
        httpx.Client(base_url=f"{sluice.url}/aero", timeout=60) as http,
        httpx.Client(timeout=60) as fetcher,
        mongo_client(ctx) as client,
    ):
        raw = RawCommits(client[ctx.db_name])
        source = _checked(http.post("/data", json={"name": "bench"}), 201)["id"]

        def upload(index: int) -> None:
            _checked(http.post(f"/data/{source}/versions", content=_payload(index)), 201)

        seconds = _alternate(count, upload, lambda index: raw.commit(_payload(index)))
        distinct = Comparison("data versions, distinct content", "commits/s",
                              count / seconds[0], count / seconds[1], "PyMongo writes")  # fmt: skip
        report(f"(a) {count} commits of distinct {PAYLOAD}-byte contents",
               ["path", "seconds", "commits/s"],
               [["Sluice POST /aero/data/{id}/versions", seconds[0], distinct.sluice],
                ["PyMongo GridFS + transaction", seconds[1], distinct.baseline]],
               distinct)  # fmt: skip

        ingested = _checked(http.post("/data", json={"name": "ingested", "url": url}), 201)["id"]
        _checked(http.post(f"/data/{ingested}/ingest", json={}), 201)
        raw.commit(content)

        def ingest(index: int) -> None:
            answer = _checked(http.post(f"/data/{ingested}/ingest", json={}), 200)
            if answer["status"] != "unchanged":
                raise RuntimeError(f"an unchanged ingestion answered {answer}")

        def raw_ingest(index: int) -> None:
            raw.commit(fetcher.get(url).raise_for_status().content)

        seconds = _alternate(count, ingest, raw_ingest)
        unchanged = Comparison("data ingestions, unchanged content", "ingestions/s",
                               count / seconds[0], count / seconds[1],
                               "httpx + PyMongo")  # fmt: skip
        report(f"(b) {count} ingestions of an unchanged {PAYLOAD}-byte upstream",
               ["path", "seconds", "ingestions/s"],
               [["Sluice POST /aero/data/{id}/ingest", seconds[0], unchanged.sluice],
                ["httpx GET + PyMongo reads", seconds[1], unchanged.baseline]],
               unchanged)  # fmt: skip
    return [distinct, unchanged]
