"""A run's output files as one tar.gz, streamed: never held whole in memory.

Each member's tar header is written, then its bytes as GridFS yields them, then the
padding to the next 512-byte block; everything goes through one gzip compressor whose
output is yielded as it comes. The archive of a workflow is that of its latest
successful post-processing run.
"""

from __future__ import annotations

import tarfile
import time
import zlib
from collections.abc import AsyncIterator

from service.db import Document
from service.errors import NotFound
from service.gridstream import read_all
from service.workfiles.stepfiles import StepFileStore

BLOCK = tarfile.BLOCKSIZE


def archive_name(run: Document) -> str:
    """The file name a run's archive is served under (flowServ's)."""
    return f"run.{run['_id']}.tar.gz"


def check_archivable(run: Document) -> None:
    """NotFound unless the run succeeded (only then are its files final)."""
    if run["state"] != "SUCCESS":
        raise NotFound(
            f"run {run['_id']} is {run['state']}: only a successful run has an archive",
            {"run": run["_id"], "state": run["state"]},
        )


async def tar_gz(run: Document, files: StepFileStore) -> AsyncIterator[bytes]:
    """The tar.gz of `run`'s files, members named by their output paths."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip stream
    for entry in run["files"]:
        stream = await files.open_output(entry["id"])
        info = tarfile.TarInfo(entry["name"])
        info.size = stream.length
        info.mtime = int(run["finished_at"] or time.time())
        info.mode = 0o644
        yield packer.compress(info.tobuf(format=tarfile.PAX_FORMAT))
        async for piece in read_all(stream):
            if out := packer.compress(piece):
                yield out
        if remainder := stream.length % BLOCK:
            yield packer.compress(b"\0" * (BLOCK - remainder))
    yield packer.compress(b"\0" * (2 * BLOCK)) + packer.flush()


def run_file(run: Document, file_id: str) -> Document:
    """The entry of file `file_id` among `run`'s files; NotFound."""
    entries: list[Document] = run["files"]
    for entry in entries:
        if entry["id"] == file_id:
            return entry
    raise NotFound(
        f"run {run['_id']} has no file {file_id[:64]!r}", {"run": run["_id"], "file": file_id[:64]}
    )
