"""Files of experiments, in GridFS (bucket `experiment_files`).

Uploads are streamed into a new GridFS file, never held whole in memory. Only once the
new file is complete is the experiment's entry for that name switched to it, in one
conditional update guarded by the entry it replaces; the replaced file is then
*retired* (marked, not deleted) and the periodic sweep deletes it SLUICE_FILE_GRACE
seconds later, so a download that began on the old file finishes on the old file. A
reader thus gets the old or the new content, never a mix. A file no experiment points
at SLUICE_ORPHAN_FILE_SECONDS after its upload (the upload's switch was cut short, or
the removal of its experiment) is retired too (`sweep_unheld`).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable
from datetime import timedelta
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridOut, NoFile
from pymongo import ASCENDING, IndexModel, ReturnDocument

from service.db import Database, Document
from service.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, bytes_too_large
from service.experiments.store import ExperimentStore, experiment_filter, now, public
from service.gridstream import (
    CHUNKS_INDEX,
    GridWriter,
    SweptBucket,
    delete_files,
    grid_bucket,
)
from service.settings import Settings

BUCKET = "experiment_files"
NAME_MAX = 255
#: Attempts at switching an entry that other uploads of the same name keep changing.
SWAP_ATTEMPTS = 10

_FORBIDDEN = frozenset("/\\\x00")


def check_name(name: Any) -> str:
    """`name` if it is a plain file name; 400 for paths, `.`/`..`, NUL and controls."""
    bad = (
        not isinstance(name, str)
        or not name
        or len(name) > NAME_MAX
        or name in (".", "..")
        or any(c in _FORBIDDEN or ord(c) < 32 for c in name)
    )
    if bad:
        raise BadRequest(
            f"invalid file name {name!r}: 1-{NAME_MAX} characters, no path separator, "
            "NUL or control character, not '.' or '..'",
            {"name": name if isinstance(name, str) else repr(name)},
        )
    return str(name)


def _entry(record: Document, name: str) -> Document | None:
    return next((e for e in record.get("files", []) if e["name"] == name), None)


class FileStore(SweptBucket):
    """Store, list, read and remove the files of experiments."""

    def __init__(self, database: Database, experiments: ExperimentStore, settings: Settings):
        self.experiments = experiments
        self.settings = settings
        self.bucket, self.meta, self.chunks = grid_bucket(database.db, BUCKET)
        self.swept(self.bucket, self.meta, self.chunks)

    async def create_indexes(self) -> None:
        # The index GridFS readers rely on, made here as uploads bypass pymongo's GridIn.
        await self.chunks.create_indexes([CHUNKS_INDEX])
        await self.meta.create_indexes(
            [
                IndexModel([("metadata.experiment", ASCENDING)], name="experiment"),
                IndexModel([("metadata.retired_at", ASCENDING)], name="retired", sparse=True),
            ]
        )

    def too_large(self) -> PayloadTooLarge:
        return bytes_too_large("file", "SLUICE_MAX_FILE_BYTES", self.settings.max_file_bytes)

    async def store(
        self, ref: str, name: str, chunks: AsyncIterable[bytes], declared: int | None = None
    ) -> Document:
        """Write `chunks` as file `name` of experiment `ref`, replacing any file of that
        name atomically; return its entry. 413 past SLUICE_MAX_FILE_BYTES (then nothing
        changes), 404 for an unknown experiment."""
        check_name(name)
        record = await self.experiments.record(ref)
        if declared is not None and declared > self.settings.max_file_bytes:
            raise self.too_large()
        metadata = {"experiment": record["uuid"], "name": name}
        upload = GridWriter(self.meta, self.chunks, name, metadata)
        digest = hashlib.sha256()
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.settings.max_file_bytes:
                    raise self.too_large()
                digest.update(chunk)
                await upload.write(chunk)
            await upload.close()
        except BaseException:
            await upload.abort()
            raise
        entry = {
            "name": name,
            "file_id": upload.file_id,
            "size": size,
            "modified_at": now(),
            "checksum": "sha256:" + digest.hexdigest(),
        }
        try:
            replaced = await self._swap(record["uuid"], entry)
        except BaseException:
            await self.bucket.delete(upload.file_id)
            raise
        if replaced is not None:
            await self.retire([replaced])
        return {k: v for k, v in entry.items() if k != "file_id"}

    async def _swap(self, experiment_uuid: str, entry: Document) -> ObjectId | None:
        """Point the experiment's entry `entry["name"]` at the new file; return the id
        of the file it pointed at before, if any."""
        name = entry["name"]
        for _ in range(SWAP_ATTEMPTS):
            record = await self.experiments.collection.find_one({"uuid": experiment_uuid})
            if record is None:
                raise NotFound("the experiment was removed during the upload")
            old = _entry(record, name)
            stamp = {"updated_at": entry["modified_at"]}
            if old is None:
                condition: Document = {"files.name": {"$ne": name}}
                update: Document | list[Document] = {"$push": {"files": entry}, "$set": stamp}
            else:
                condition = {"files": {"$elemMatch": {"name": name, "file_id": old["file_id"]}}}
                # A pipeline update, not `files.$`: the embedded server lacks the positional
                # operator with $elemMatch. $literal: a name may start with "$".
                replace = {
                    "$cond": [
                        {"$eq": ["$$this.name", {"$literal": name}]},
                        {"$literal": entry},
                        "$$this",
                    ]
                }
                update = [
                    {"$set": {"files": {"$map": {"input": "$files", "in": replace}}, **stamp}}
                ]
            switched = await self.experiments.collection.find_one_and_update(
                {"uuid": experiment_uuid, **condition}, update, projection={"_id": True}
            )
            if switched is not None:
                return None if old is None else old["file_id"]
        raise Conflict(f"file {name!r} kept changing during the upload; retry", {"name": name})

    async def retire(self, file_ids: list[ObjectId]) -> None:
        """Leave files readable for SLUICE_FILE_GRACE seconds more, then the sweep
        deletes them."""
        await self.meta.update_many(
            {"_id": {"$in": file_ids}}, {"$set": {"metadata.retired_at": now()}}
        )

    async def sweep(self) -> int:
        """Delete retired files past their grace; return how many."""
        cutoff = now() - timedelta(seconds=self.settings.file_grace)
        cursor = self.meta.find({"metadata.retired_at": {"$lte": cutoff}}, {"_id": True})
        return await delete_files(self.bucket, [found["_id"] async for found in cursor])

    async def sweep_unheld(self, grace: float, limit: int) -> int:
        """Retire, of the next `limit` files uploaded over `grace` seconds ago, those no
        experiment points at (retired, not deleted: one just replaced is briefly
        unheld and not yet retired, and downloads under way keep their grace); how many."""
        unheld = [found["_id"] for found in await self.unheld.next(grace, limit, self._held)]
        if not unheld:
            return 0
        retired = await self.meta.update_many(
            {"_id": {"$in": unheld}, "metadata.retired_at": {"$exists": False}},
            {"$set": {"metadata.retired_at": now()}},
        )
        return retired.modified_count

    async def _held(self, files: list[Document]) -> set[Any]:
        """Of these files, those an experiment points at or already retired."""
        held = {found["_id"] for found in files if "retired_at" in found.get("metadata", {})}
        cursor = self.experiments.collection.find(
            {"files.file_id": {"$in": [found["_id"] for found in files]}}, {"files.file_id": True}
        )
        async for record in cursor:
            held.update(entry["file_id"] for entry in record.get("files", []))
        return held

    async def open(self, ref: str, name: str) -> tuple[Document, AsyncGridOut]:
        """The entry of file `name` and an open GridFS stream of its content; 404 if none."""
        check_name(name)
        for _ in range(SWAP_ATTEMPTS):
            record = await self.experiments.record(ref)
            entry = _entry(record, name)
            if entry is None:
                raise NotFound(f"experiment {ref} has no file {name!r}", {"name": name})
            try:
                stream = await self.bucket.open_download_stream(entry["file_id"])
            except NoFile:
                continue  # replaced and swept between the two reads: read the pointer again
            return {k: v for k, v in entry.items() if k != "file_id"}, stream
        raise Conflict(f"file {name!r} kept changing; retry", {"name": name})

    async def listing(self, ref: str) -> list[Document]:
        """The file entries of experiment `ref`."""
        files: list[Document] = public(await self.experiments.record(ref))["files"]
        return files

    async def remove(self, ref: str, names: list[str]) -> list[str]:
        """Remove files by name, all or nothing: 409 naming the missing ones."""
        if not names:
            raise BadRequest("name the files to remove as ?name=<name>&name=<name>")
        wanted = list(dict.fromkeys(check_name(name) for name in names))
        for _ in range(SWAP_ATTEMPTS):
            before = await self.experiments.collection.find_one_and_update(
                {**experiment_filter(ref), "$and": [{"files.name": name} for name in wanted]},
                {"$pull": {"files": {"name": {"$in": wanted}}}, "$set": {"updated_at": now()}},
                return_document=ReturnDocument.BEFORE,
            )
            if before is not None:
                gone = [e["file_id"] for e in before["files"] if e["name"] in wanted]
                await self.retire(gone)
                return wanted
            record = await self.experiments.record(ref)
            present = {entry["name"] for entry in record.get("files", [])}
            missing = [name for name in wanted if name not in present]
            if missing:
                raise Conflict(
                    f"experiment {ref} has no file {', '.join(map(repr, missing))}; "
                    "nothing was removed",
                    {"missing": missing},
                )
        raise Conflict("the files kept changing; retry")

    async def remove_all(self, experiment_uuid: str) -> int:
        """Delete every GridFS file of an experiment (removed with its record)."""
        cursor = self.meta.find({"metadata.experiment": experiment_uuid}, {"_id": True})
        return await delete_files(self.bucket, [found["_id"] async for found in cursor])
