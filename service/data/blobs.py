"""Content-addressed bytes of data versions, in GridFS (bucket `aero_blobs`).

A blob is named by the sha256 of its bytes (a unique index on `metadata.sha256`), so
identical bytes are stored once whoever commits them. Bytes given whole are hashed
first and written only if new; a stream is written as it arrives (never held whole)
and, when its hash turns out to be known, its chunks are dropped again.

The file sweep (`sweep`) deletes a blob nothing holds (no version, no flow run's staged
output) SLUICE_ORPHAN_FILE_SECONDS after it was stored or last reused: every `put`
that finds its bytes stored stamps the blob (`metadata.used_at`), and the sweep deletes
only a blob whose stamp is still the one it read, so bytes a commit is about to
reference are never deleted under it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from gridfs import NoFile
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from service.db import Database, Document
from service.errors import NotFound, SluiceError
from service.gridstream import (
    CHUNKS_INDEX,
    GridWriter,
    SweptBucket,
    grid_bucket,
    read_all,
)

BUCKET = "aero_blobs"
#: A stream this short is read whole and hashed before anything is written.
INLINE_BYTES = 1024 * 1024

#: Of some blob ids, those something holds (a version, a flow run's staged output).
Held = Callable[[list[str]], Awaitable[set[str]]]


@dataclass(frozen=True)
class Blob:
    """Stored bytes: GridFS file id (as text), sha256 and md5 (hex) and size."""

    blob_id: str
    sha256: str
    md5: str
    size: int


def _blob(files: Document) -> Blob:
    meta = files["metadata"]
    return Blob(str(files["_id"]), meta["sha256"], meta["md5"], int(files["length"]))


def blob_not_found(blob_id: str) -> NotFound:
    return NotFound(f"no stored bytes with id {blob_id!r}", {"blob_id": blob_id})


class BlobStore(SweptBucket):
    """Put bytes (once per distinct content) and read them back."""

    def __init__(self, database: Database) -> None:
        self.bucket, self.meta, self.chunks = grid_bucket(database.db, BUCKET)
        self.swept(self.bucket, self.meta, self.chunks, reused="used_at")

    async def create_indexes(self) -> None:
        await self.chunks.create_indexes([CHUNKS_INDEX])
        await self.meta.create_indexes(
            [IndexModel([("metadata.sha256", ASCENDING)], unique=True, name="sha256")]
        )

    async def find(self, sha256: str) -> Blob | None:
        """The blob holding bytes of this sha256, if stored, stamped as reused now (the
        sweep leaves it another grace period: the caller is about to reference it)."""
        # Stamp, then read: two indexed point operations, where one find_one_and_update
        # would scan every blob on the embedded database (60 ms at 5,000 blobs, not 5).
        # Stamped first, the blob read back cannot be one the sweep is deleting.
        chosen = {"metadata.sha256": sha256}
        stamped = await self.meta.update_one(
            chosen, {"$set": {"metadata.used_at": datetime.now(UTC)}}
        )
        found = await self.meta.find_one(chosen) if stamped.matched_count else None
        return None if found is None else _blob(found)

    async def get(self, blob_id: str) -> Blob:
        """The blob `blob_id`; 404 if none."""
        try:
            oid = ObjectId(blob_id)
        except (InvalidId, TypeError):
            raise blob_not_found(str(blob_id)) from None
        found = await self.meta.find_one({"_id": oid})
        if found is None:
            raise blob_not_found(blob_id)
        return _blob(found)

    async def put(
        self,
        content: bytes | AsyncIterable[bytes],
        max_bytes: int,
        too_large: Callable[[], SluiceError],
    ) -> Blob:
        """Store `content` unless bytes of its sha256 are stored already; the blob.
        `too_large()` is raised past `max_bytes` (nothing is kept then)."""
        if not isinstance(content, bytes):
            # A small stream is taken whole, so content already stored is not written
            # again only to be dropped (an unchanged ingestion writes nothing).
            head, rest = await _head(content, min(INLINE_BYTES, max_bytes + 1))
            if rest is not None:
                return await self._write(_chain(head, rest), max_bytes, too_large)
            content = head
        if len(content) > max_bytes:
            raise too_large()
        sha256 = hashlib.sha256(content).hexdigest()
        known = await self.find(sha256)
        if known is not None:
            return known
        return await self._write(_chain(content, None), max_bytes, too_large)

    async def _write(
        self, chunks: AsyncIterable[bytes], max_bytes: int, too_large: Callable[[], SluiceError]
    ) -> Blob:
        writer = GridWriter(self.meta, self.chunks, "blob", {})
        sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        try:
            async for chunk in chunks:
                if writer.length + len(chunk) > max_bytes:
                    raise too_large()
                sha256.update(chunk)
                md5.update(chunk)
                await writer.write(chunk)
            await writer.flush()
        except BaseException:
            await writer.abort()
            raise
        digest = sha256.hexdigest()
        writer.name = digest
        writer.metadata = {"sha256": digest, "md5": md5.hexdigest()}
        known = await self.find(digest)
        if known is None:
            try:
                await self.meta.insert_one(writer.files_document())
                return Blob(str(writer.file_id), digest, writer.metadata["md5"], writer.length)
            except DuplicateKeyError:
                known = await self.find(digest)  # the same bytes stored concurrently
        await writer.abort()
        if known is None:  # stored and deleted meanwhile: the sweep spares a blob this new
            raise RuntimeError(f"blob {digest} vanished while being stored")
        return known

    async def sweep(self, grace: float, limit: int, held: Held) -> int:
        """Delete, of the next `limit` blobs stored over `grace` seconds ago, those not
        reused within it that `held` does not name; how many. Each delete is
        conditional on the reuse stamp read, so a `put` reusing the bytes meanwhile
        keeps them, and a second replica sweeping deletes nothing."""

        async def holds(files: list[Document]) -> set[Any]:
            kept = await held([str(found["_id"]) for found in files])
            return {found["_id"] for found in files if str(found["_id"]) in kept}

        deleted = 0
        for found in await self.unheld.next(grace, limit, holds):
            stamp = (found.get("metadata") or {}).get("used_at")
            gone = await self.meta.delete_one({"_id": found["_id"], "metadata.used_at": stamp})
            if gone.deleted_count:
                await self.chunks.delete_many({"files_id": found["_id"]})
                deleted += 1
        return deleted

    async def read(self, blob_id: str) -> AsyncIterator[bytes]:
        """The bytes of blob `blob_id`, piece by piece; 404 (before the first piece) if
        it is not stored."""
        try:
            stream = await self.bucket.open_download_stream(ObjectId(blob_id))
        except (NoFile, InvalidId, TypeError):
            raise blob_not_found(str(blob_id)) from None
        return read_all(stream)


async def _head(
    chunks: AsyncIterable[bytes], limit: int
) -> tuple[bytes, AsyncIterator[bytes] | None]:
    """The first `limit` bytes or more of `chunks`, and the iterator of the rest (None
    when `chunks` ended within them)."""
    iterator = aiter(chunks)
    head = bytearray()
    async for chunk in iterator:
        head += chunk
        if len(head) >= limit:
            return bytes(head), iterator
    return bytes(head), None


async def _chain(head: bytes, rest: AsyncIterator[bytes] | None) -> AsyncIterator[bytes]:
    if head:
        yield head
    if rest is not None:
        async for chunk in rest:
            yield chunk
