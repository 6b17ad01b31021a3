"""Streaming files into and out of GridFS, a few chunks in memory at most, and
sweeping what crashed uploads leave behind.

`GridWriter` writes one GridFS file chunk batch by chunk batch (pymongo's own GridIn
buffers 32 MB of chunks and their encoding per upload); `read_all` yields an open
file's content piece by piece. Stores owning a GridFS bucket use both, so no upload or
download holds a whole file. `SweptBucket` (with `Walk`, `OrphanChunks` and `Unheld`)
serves the periodic file sweep (service.sweep): a file's id is an ObjectId made when
its upload starts, so its age is the upload's, whether or not the upload ever finished.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from bson import ObjectId
from gridfs import AsyncGridFSBucket, AsyncGridOut, NoFile
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from service.db import Document

#: GridFS chunk size (pymongo's default) and chunks inserted per round trip.
CHUNK_SIZE = 255 * 1024
BATCH_CHUNKS = 8
#: Bytes read from GridFS per piece of a download.
READ_SIZE = 1024 * 1024
#: The index GridFS readers rely on; made by the owner, as uploads bypass GridIn.
CHUNKS_INDEX = IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="chunks")


def grid_bucket(
    db: AsyncDatabase[Document], name: str
) -> tuple[AsyncGridFSBucket, AsyncCollection[Document], AsyncCollection[Document]]:
    """The GridFS bucket `name` with its files and chunks collections."""
    return AsyncGridFSBucket(db, bucket_name=name), db[f"{name}.files"], db[f"{name}.chunks"]


def _now() -> datetime:
    moment = datetime.now(UTC)  # at the millisecond precision BSON keeps
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class GridWriter:
    """One GridFS file being written to `meta`/`chunks` (a bucket's `.files` and
    `.chunks`). The files document, which makes the file visible, is written last by
    `close`; `abort` removes the chunks written so far."""

    def __init__(
        self,
        meta: AsyncCollection[Document],
        chunks: AsyncCollection[Document],
        name: str,
        metadata: Document,
    ) -> None:
        self.chunks = chunks
        self.meta = meta
        self.file_id = ObjectId()
        self.name = name
        self.metadata = metadata
        self.pending = bytearray()
        self.batch: list[Document] = []
        self.number = 0
        self.length = 0

    async def write(self, data: bytes) -> None:
        self.pending += data
        self.length += len(data)
        while len(self.pending) >= CHUNK_SIZE:
            await self._chunk(bytes(self.pending[:CHUNK_SIZE]))
            del self.pending[:CHUNK_SIZE]

    async def _chunk(self, data: bytes, last: bool = False) -> None:
        if data:
            self.batch.append({"files_id": self.file_id, "n": self.number, "data": data})
            self.number += 1
        if self.batch and (last or len(self.batch) >= BATCH_CHUNKS):
            await self.chunks.insert_many(self.batch)
            self.batch = []

    async def flush(self) -> None:
        """Write the chunks still held, without the files document (a caller that names
        the file by its content writes that document itself, see `files_document`)."""
        await self._chunk(bytes(self.pending), last=True)
        self.pending = bytearray()

    def files_document(self) -> Document:
        """The GridFS files document of what was written."""
        return {
            "_id": self.file_id,
            "length": self.length,
            "chunkSize": CHUNK_SIZE,
            "uploadDate": _now(),
            "filename": self.name,
            "metadata": self.metadata,
        }

    async def close(self) -> None:
        """Write the last chunks, then the files document."""
        await self.flush()
        await self.meta.insert_one(self.files_document())

    async def abort(self) -> None:
        # The first chunk last: an abort cut short leaves it for `OrphanChunks` to find.
        await self.chunks.delete_many({"files_id": self.file_id, "n": {"$gt": 0}})
        await self.chunks.delete_many({"files_id": self.file_id})


async def delete_files(bucket: AsyncGridFSBucket, file_ids: Iterable[Any]) -> int:
    """Delete these files of `bucket`; how many were there to delete (a concurrent
    delete of one, say by another replica, is no error)."""
    deleted = 0
    for file_id in file_ids:
        try:
            await bucket.delete(file_id)
            deleted += 1
        except NoFile:
            continue
    return deleted


def started_before(seconds: float) -> ObjectId:
    """The least ObjectId of `seconds` ago: every file id below it belongs to an upload
    that started earlier than that."""
    return ObjectId.from_datetime(datetime.now(UTC) - timedelta(seconds=seconds))


class Walk:
    """Values of `field` (ObjectIds, ascending) in `collection` below a bound, a batch
    at a time, each batch resuming after the last one's end and starting over once the
    walk reached the bound. The position is this process's own: replicas walking the
    same collection only repeat each other's work."""

    def __init__(self, collection: AsyncCollection[Document], field: str, where: Document):
        self.collection = collection
        self.field = field
        self.where = where
        self.after: ObjectId | None = None

    async def next(self, below: ObjectId, limit: int) -> list[Document]:
        """The next `limit` documents (or fewer, at the end of the walk) whose `field`
        is below `below`, with `field`, `metadata` and `uploadDate`."""
        span: Document = {"$lt": below}
        if self.after is not None:
            span["$gt"] = self.after
        cursor = self.collection.find(
            {self.field: span, **self.where},
            {self.field: True, "metadata": True, "uploadDate": True},
            sort=[(self.field, ASCENDING)],
            limit=limit,
        )
        found = await cursor.to_list()
        self.after = found[-1][self.field] if len(found) == limit else None
        return found


class OrphanChunks:
    """Chunks of uploads that never got their files document (the upload died before
    its end, or its abort did) in a bucket's `meta`/`chunks`, deleted once the upload
    started longer ago than the grace period: an upload still under way is younger.

    The walk visits each file's first chunk (`n` 0, always the first one written)
    through the chunks index, a bounded batch per pass."""

    def __init__(self, meta: AsyncCollection[Document], chunks: AsyncCollection[Document]):
        self.meta = meta
        self.chunks = chunks
        self.walk = Walk(chunks, "files_id", {"n": 0})

    async def sweep(self, grace: float, limit: int) -> int:
        """Delete the chunks of up to `limit` abandoned uploads; how many uploads."""
        firsts = await self.walk.next(started_before(grace), limit)
        ids = [first["files_id"] for first in firsts]
        if not ids:
            return 0
        complete = {
            found["_id"] async for found in self.meta.find({"_id": {"$in": ids}}, {"_id": True})
        }
        deleted = 0
        for file_id in ids:
            if file_id not in complete:
                # Nothing writes a files document for an upload this old any more, so
                # the check cannot go stale; a second replica deletes nothing.
                removed = await self.chunks.delete_many({"files_id": file_id})
                deleted += removed.deleted_count > 0
        return deleted


#: Of some files documents of a bucket, the ids something holds (they stay).
Holds = Callable[[list[Document]], Awaitable[set[Any]]]


class Unheld:
    """Complete files of a bucket nothing holds any more, found a bounded batch at a
    time: those whose upload started, and ended, over the grace period ago (and, with
    `reused`, that metadata field stamping a reuse of the file is not within it either)
    and that the owner's `holds` does not name. An owner whose holders never take a
    file back once they let it go may delete what this finds at once."""

    def __init__(self, meta: AsyncCollection[Document], reused: str | None = None):
        self.walk = Walk(meta, "_id", {})
        self.reused = reused

    async def next(self, grace: float, limit: int, holds: Holds) -> list[Document]:
        """The files documents (`_id`, `metadata`, `uploadDate`), among the next `limit`
        files past the grace period, of those `holds` does not name."""
        cutoff = datetime.now(UTC) - timedelta(seconds=grace)
        files = [
            found
            for found in await self.walk.next(started_before(grace), limit)
            if self._settled(found, cutoff)
        ]
        kept = await holds(files) if files else set()
        return [found for found in files if found["_id"] not in kept]

    def _settled(self, found: Document, cutoff: datetime) -> bool:
        """Whether `found`'s upload ended, and its last reuse was, by `cutoff`."""
        if found.get("uploadDate", cutoff) > cutoff:
            return False
        return self.reused is None or bool(
            (found.get("metadata") or {}).get(self.reused, cutoff) <= cutoff
        )


class SweptBucket:
    """A store owning a GridFS bucket that the file sweep (service.sweep) cleans: it
    calls `swept(bucket, meta, chunks)` once, then the sweep calls `sweep_chunks`; the
    store's own sweeps of complete files use `unheld`, or `delete_unheld`."""

    grid: AsyncGridFSBucket
    orphans: OrphanChunks
    unheld: Unheld

    def swept(
        self,
        bucket: AsyncGridFSBucket,
        meta: AsyncCollection[Document],
        chunks: AsyncCollection[Document],
        reused: str | None = None,
    ) -> None:
        """Sweep this bucket, of these files and chunks collections (`reused`: see
        `Unheld`)."""
        self.grid = bucket
        self.orphans = OrphanChunks(meta, chunks)
        self.unheld = Unheld(meta, reused)

    async def sweep_chunks(self, grace: float, limit: int) -> int:
        """Delete the chunks of up to `limit` uploads that started over `grace`
        seconds ago and never got their files document; how many uploads."""
        return await self.orphans.sweep(grace, limit)

    async def delete_unheld(self, grace: float, limit: int, holds: Holds) -> int:
        """Delete what `unheld` finds of the next `limit` files past `grace` seconds,
        judged by the owner's `holds`; how many. Only for an owner whose holders never
        take a file back once they let it go: the decision cannot go stale, so two
        replicas sweeping at once delete nothing twice."""
        unheld = await self.unheld.next(grace, limit, holds)
        return await delete_files(self.grid, [found["_id"] for found in unheld])


def download_headers(name: str, size: int) -> dict[str, str]:
    """Headers of a streamed download: its length and file name, percent-encoded as
    UTF-8 (RFC 6266 `filename*`: any name, never a broken header). No Content-Encoding:
    the flowServ client reads the raw stream."""
    return {
        "content-length": str(size),
        "content-disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
    }


async def read_all(stream: AsyncGridOut) -> AsyncIterator[bytes]:
    """The content of an open GridFS file, piece by piece."""
    while True:
        piece = await stream.read(READ_SIZE)
        if not piece:
            return
        yield piece
