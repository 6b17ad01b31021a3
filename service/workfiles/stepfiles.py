"""Files in and out of workfile steps, in GridFS (bucket `workfiles_files`).

A run may start with input files (`RunStore.start(inputs=...)`: a path and a GridFS
file of some bucket, such as a leaderboard group's upload). Before a step runs, the
worker downloads into the step's fresh working directory, at their paths, the run's
inputs and the output files of every step upstream of it (a later one wins a path).
A step declares its `outputs`; once it succeeded, the worker uploads each of them
(streamed, SLUICE_MAX_STEP_FILE_BYTES at most) while it still holds the lease, and
only then reports the work. The run records a step's files when it sees the step
succeed: the uploads of that work's attempt, newest per path; a declared output
missing there fails the step. Paths are relative and confined to the working
directory (`schemas.workfiles.safe_path`, checked at upload of the workfile and again
by the worker).

A run keeps the files it records as long as it exists (runs are never deleted). A file
no run records or will still record (the uploads of an attempt that lost its lease, a
path uploaded twice, a crash between an upload and its run's record) is deleted by the
file sweep (`sweep`) SLUICE_ORPHAN_FILE_SECONDS after its upload started.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from functools import partial
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridFSBucket, AsyncGridOut, NoFile
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from service.db import Database, Document
from service.errors import NotFound, PayloadTooLarge, bytes_too_large
from service.gridstream import (
    CHUNKS_INDEX,
    GridWriter,
    SweptBucket,
    grid_bucket,
)
from service.settings import Settings

BUCKET = "workfiles_files"


class StepFileNotFound(NotFound):
    code = "file_not_found"


def upstream_of(operators: list[Document], index: int) -> set[str]:
    """Names of the operators upstream (directly or not) of operator `index`."""
    by_name = {operator["name"]: operator for operator in operators}
    seen: set[str] = set()
    stack = list(operators[index]["depends_on"])
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(by_name[name]["depends_on"])
    return seen


def inputs_of(process: Document, index: int) -> list[Document]:
    """What step `index` of `process` gets in its working directory, in download
    order: `{"path", "bucket", "ref", "size"}` each, the run's inputs first, then the
    files of the steps upstream of it in run order; one entry per path (the last)."""
    upstream = upstream_of(process["operators"], index)
    chosen: dict[str, Document] = {}
    for item in process.get("inputs") or []:
        chosen[item["path"]] = item
    for step in process["steps"]:
        if step["name"] in upstream:
            for item in step.get("files") or []:
                chosen[item["path"]] = {
                    "path": item["path"], "bucket": BUCKET, "ref": item["id"], "size": item["size"]
                }  # fmt: skip
    return list(chosen.values())


def still_read(processes: list[Document], files: list[Document]) -> set[Any]:
    """The ids of `files` (files documents of BUCKET) that `processes` (the runs they
    name or that stage them) record, as a step's output or the run's input, or may
    still record: the uploads of a step not yet ended in a run still RUNNING (that
    attempt may yet succeed). A run records a step's files only as the step ends, so
    no other file will ever be read."""
    needed: set[Any] = set()
    for process in processes:
        needed.update(item["ref"] for item in process.get("inputs") or [])
        open_steps = set()
        for step in process["steps"]:
            needed.update(item["id"] for item in step.get("files") or [])
            if process["status"] == "RUNNING" and step["state"] in ("waiting", "queued", "running"):
                open_steps.add(step["work_id"])
        for found in files:
            meta = found.get("metadata") or {}
            if meta.get("run") == process["_id"] and meta.get("work") in open_steps:
                needed.add(found["_id"])
    return needed & {found["_id"] for found in files}


async def needed(runs: AsyncCollection[Document], files: list[Document]) -> set[Any]:
    """Of these step files (files documents of BUCKET), the ids a run in `runs` (the
    RunStore's collection, only read here) records or may still record (`still_read`)."""
    named = [found["metadata"]["run"] for found in files if "run" in found.get("metadata", {})]
    cursor = runs.find(
        {"$or": [{"_id": {"$in": named}},
                 {"inputs.ref": {"$in": [found["_id"] for found in files]}}]},
        {"status": True, "inputs.ref": True, "steps": True},
    )  # fmt: skip
    return still_read([process async for process in cursor], files)


class StepFileStore(SweptBucket):
    """Receive step outputs, read any staged file, list what an attempt uploaded."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.db = database.db
        self.settings = settings
        self.bucket, self.meta, self.chunks = grid_bucket(database.db, BUCKET)
        self.swept(self.bucket, self.meta, self.chunks)

    async def create_indexes(self) -> None:
        await self.chunks.create_indexes([CHUNKS_INDEX])
        await self.meta.create_indexes(
            [IndexModel([("metadata.work", ASCENDING), ("metadata.attempt", ASCENDING)],
                        name="work")]
        )  # fmt: skip

    def too_large(self) -> PayloadTooLarge:
        return bytes_too_large(
            "file", "SLUICE_MAX_STEP_FILE_BYTES", self.settings.max_step_file_bytes
        )

    async def receive(
        self,
        run: str,
        work_id: str,
        attempt: int,
        path: str,
        chunks: AsyncIterable[bytes],
        declared: int | None = None,
    ) -> Document:
        """Store one output of a step's attempt, streamed; `{"id", "path", "size"}`.
        413 past SLUICE_MAX_STEP_FILE_BYTES (nothing stored)."""
        limit = self.settings.max_step_file_bytes
        if declared is not None and declared > limit:
            raise self.too_large()
        metadata = {"run": run, "work": work_id, "attempt": attempt, "path": path}
        writer = GridWriter(self.meta, self.chunks, path.rsplit("/", 1)[-1], metadata)
        try:
            async for chunk in chunks:
                if writer.length + len(chunk) > limit:
                    raise self.too_large()
                await writer.write(chunk)
            await writer.close()
        except BaseException:
            await writer.abort()
            raise
        return {"id": str(writer.file_id), "path": path, "size": writer.length}

    async def put(self, path: str, content: bytes, metadata: Document) -> Document:
        """Store small generated `content` (such as an index of a run's inputs) as a
        file to stage at `path`: `{"path", "bucket", "ref", "size"}`, an input entry."""
        writer = GridWriter(self.meta, self.chunks, path.rsplit("/", 1)[-1], metadata)
        await writer.write(content)
        await writer.close()
        return {"path": path, "bucket": BUCKET, "ref": writer.file_id, "size": len(content)}

    async def collected(
        self, work_id: str, attempt: int, outputs: list[str]
    ) -> tuple[list[Document], list[str]]:
        """The files attempt `attempt` of work `work_id` uploaded for `outputs`
        (`{"path", "id", "size"}`, newest per path, in `outputs` order), and the
        declared paths it did not upload."""
        newest: dict[str, Document] = {}
        cursor = self.meta.find(
            {"metadata.work": work_id, "metadata.attempt": attempt,
             "metadata.path": {"$in": outputs}},
            sort=[("uploadDate", ASCENDING), ("_id", ASCENDING)],
            limit=len(outputs) * 16,
        )  # fmt: skip
        async for found in cursor:
            path = found["metadata"]["path"]
            newest[path] = {"path": path, "id": found["_id"], "size": found["length"]}
        files = [newest[path] for path in outputs if path in newest]
        return files, [path for path in outputs if path not in newest]

    async def open(self, bucket: str, ref: Any) -> AsyncGridOut:
        """An open GridFS file of `bucket`; StepFileNotFound when it is gone."""
        source = self.bucket if bucket == BUCKET else AsyncGridFSBucket(self.db, bucket_name=bucket)
        try:
            return await source.open_download_stream(ref)
        except NoFile:
            raise StepFileNotFound("the file is gone from the database", {"id": str(ref)}) from None

    async def open_output(self, file_id: str) -> AsyncGridOut:
        """One output file by its id (as `receive` answered it); StepFileNotFound."""
        if not ObjectId.is_valid(file_id):
            raise StepFileNotFound(f"no file with id {file_id!r}", {"id": file_id})
        return await self.open(BUCKET, ObjectId(file_id))

    async def sweep(self, grace: float, limit: int, runs: AsyncCollection[Document]) -> int:
        """Delete, of the next `limit` files whose upload started over `grace` seconds
        ago, those no run in `runs` (RunStore's collection) needs (`needed`); how many.
        A decision is final: a run records a step's files once, as the step ends."""
        return await self.delete_unheld(grace, limit, partial(needed, runs))
