"""Streaming files into and out of GridFS, a few chunks in memory at most.

`GridWriter` writes one GridFS file chunk batch by chunk batch (pymongo's own GridIn
buffers 32 MB of chunks and their encoding per upload); `read_all` yields an open
file's content piece by piece. Stores owning a GridFS bucket use both, so no upload or
download holds a whole file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from bson import ObjectId
from gridfs import AsyncGridFSBucket, AsyncGridOut
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
        await self.chunks.delete_many({"files_id": self.file_id})


async def read_all(stream: AsyncGridOut) -> AsyncIterator[bytes]:
    """The content of an open GridFS file, piece by piece."""
    while True:
        piece = await stream.read(READ_SIZE)
        if not piece:
            return
        yield piece
