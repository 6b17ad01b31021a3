"""Files uploaded by leaderboard groups, in GridFS (bucket `leaderboard_uploads`).

An upload is streamed into GridFS as it arrives (a few chunks in memory at most) and
becomes visible only once complete; one past SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES is
refused with 413 and its chunks removed, so nothing of it stays. The GridFS file's `_id`
is an ObjectId; its metadata names the group and the upload's id (128 random bits in
hex: download URLs holding it are capabilities). A run's file argument names an upload of its group;
`staged` is what the run start needs to copy it into the step's working directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridOut, NoFile
from pymongo import ASCENDING, IndexModel

from service.db import Database, Document
from service.errors import NotFound, PayloadTooLarge, bytes_too_large
from service.experiments.files import check_name
from service.gridstream import (
    CHUNKS_INDEX,
    GridWriter,
    SweptBucket,
    delete_files,
    grid_bucket,
)
from service.leaderboards.groups import GroupStore, new_id

BUCKET = "leaderboard_uploads"


@dataclass(frozen=True)
class StagedUpload:
    """An uploaded file as a run start stages it: its upload id, its GridFS file id
    (in bucket BUCKET), its name and size."""

    file_id: str
    gridfs_id: ObjectId
    name: str
    size: int


def handle(stored: Document) -> Document:
    """The flowServ FileHandle of a stored GridFS files document."""
    created: datetime = stored["uploadDate"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return {
        "id": stored["metadata"]["upload"],
        "name": stored["filename"],
        "createdAt": created.isoformat(),
        "size": stored["length"],
    }


class UploadStore(SweptBucket):
    """Store, list, read and delete the uploaded files of groups."""

    def __init__(self, database: Database, groups: GroupStore, max_bytes: int, max_results: int):
        self.groups = groups
        self.max_bytes = max_bytes
        self.max_results = max_results
        self.bucket, self.meta, self.chunks = grid_bucket(database.db, BUCKET)
        self.swept(self.bucket, self.meta, self.chunks)

    async def create_indexes(self) -> None:
        await self.chunks.create_indexes([CHUNKS_INDEX])
        await self.meta.create_indexes(
            [
                IndexModel(
                    [("metadata.group", ASCENDING), ("metadata.upload", ASCENDING)], name="group"
                )
            ]
        )

    def too_large(self) -> PayloadTooLarge:
        return bytes_too_large("file", "SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES", self.max_bytes)

    async def store(
        self,
        group_id: str,
        name: str | Callable[[], str | None],
        chunks: AsyncIterable[bytes],
    ) -> Document:
        """Write `chunks` as a new file of the group named `name`, or `name()` once they
        are all read (a multipart part's filename arrives with its bytes); its
        FileHandle. 413 past SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES and 400 for a name that
        is not a plain file name (nothing stays), 404 if the group is gone by the end."""
        if isinstance(name, str):
            check_name(name)
        upload_id = new_id()
        upload = GridWriter(self.meta, self.chunks, "", {"group": group_id, "upload": upload_id})
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    raise self.too_large()
                await upload.write(chunk)
            upload.name = check_name(name if isinstance(name, str) else name())
            await upload.close()
        except BaseException:
            await upload.abort()
            raise
        try:
            await self.groups.get(group_id)
        except NotFound:
            # Deleted during the upload: the file must not outlive it.
            await self.bucket.delete(upload.file_id)
            raise
        return handle(await self._stored(group_id, upload_id))

    async def _stored(self, group_id: str, file_id: str) -> Document:
        stored = await self.meta.find_one({"metadata.upload": file_id, "metadata.group": group_id})
        if stored is None:
            raise NotFound(
                f"group {group_id[:64]} has no uploaded file {file_id[:64]!r}",
                {"group": group_id[:64], "file": file_id[:64]},
            )
        return stored

    async def entry(self, group_id: str, file_id: str) -> Document:
        """The FileHandle of upload `file_id` of the group; 404 if it has none."""
        return handle(await self._stored(group_id, file_id))

    async def listing(self, group_id: str) -> list[Document]:
        """The FileHandles of the group's uploads, oldest first (at most
        SLUICE_MAX_VIEW_RESULTS)."""
        cursor = self.meta.find(
            {"metadata.group": group_id}, sort=[("uploadDate", ASCENDING)], limit=self.max_results
        )
        return [handle(stored) async for stored in cursor]

    async def staged(self, group_id: str, file_id: str) -> StagedUpload:
        """What a run start of the group stages for its file argument `file_id`; 404
        if the group has no such upload."""
        stored = await self._stored(group_id, file_id)
        return StagedUpload(file_id, stored["_id"], stored["filename"], stored["length"])

    async def open(self, group_id: str, file_id: str) -> tuple[Document, AsyncGridOut]:
        """The FileHandle of an upload and an open GridFS stream of its content; 404."""
        stored = await self._stored(group_id, file_id)
        try:
            return handle(stored), await self.bucket.open_download_stream(stored["_id"])
        except NoFile:
            raise NotFound(f"uploaded file {file_id!r} was deleted", {"file": file_id}) from None

    async def delete(self, group_id: str, file_id: str) -> Document:
        """Delete an upload of the group; its FileHandle. 404 if it has none."""
        stored = await self._stored(group_id, file_id)
        try:
            await self.bucket.delete(stored["_id"])
        except NoFile:
            raise NotFound(f"uploaded file {file_id!r} was deleted", {"file": file_id}) from None
        return handle(stored)

    async def remove_group(self, group_id: str) -> int:
        """Delete every upload of a group (deleted with it); how many."""
        cursor = self.meta.find({"metadata.group": group_id}, {"_id": True})
        return await delete_files(self.bucket, [found["_id"] async for found in cursor])

    async def sweep_unheld(self, grace: float, limit: int) -> int:
        """Delete, of the next `limit` uploads over `grace` seconds old, those of groups
        that no longer exist (a group delete cut short before its uploads); how many."""
        return await self.delete_unheld(grace, limit, self._held)

    async def _held(self, files: list[Document]) -> set[Any]:
        group = {found["_id"]: (found.get("metadata") or {}).get("group") for found in files}
        existing = await self.groups.existing([g for g in set(group.values()) if g is not None])
        return {file_id for file_id, named in group.items() if named in existing}
