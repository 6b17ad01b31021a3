"""The worker's client for a workfile step's files (`/workfiles/steps/...`).

`download_input` streams the n-th file staged into a held step's working directory to
a local path; `upload_output` streams a local file as the step's n-th declared output.
Both send the work's lease (`X-Sluice-Lease`): they act only while it is held.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx

from sluice.core.plan import Document
from sluice.core.sender import Sender, put_stream
from sluice.errors import error_from_response, error_from_transport

#: Bytes read or written per piece of a transfer.
PIECE = 1024 * 1024


class StepFiles(Sender):
    """Files of held workfile steps on one Sluice server (arguments as every client's)."""

    prefix = "/workfiles/steps"

    def download_input(self, work_id: str, index: int, lease: str, target: Path) -> Path:
        """Stream input `index` of step `work_id` to `target` (written under a
        temporary name, then renamed); returns `target`."""
        partial = target.with_name(target.name + ".partial")
        headers = {"x-sluice-lease": lease}
        try:
            path = f"/{quote(work_id, safe='')}/inputs/{index}"
            with self._http.stream("GET", path, headers=headers) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                with partial.open("wb") as handle:
                    for piece in response.iter_bytes(PIECE):
                        handle.write(piece)
        except httpx.RequestError as exc:
            partial.unlink(missing_ok=True)
            raise error_from_transport(exc) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)
        return target

    def upload_output(self, work_id: str, index: int, lease: str, source: Path) -> Document:
        """Stream `source` as declared output `index` of step `work_id`; the stored
        file's `{"id", "path", "size"}`."""
        size = source.stat().st_size

        def pieces() -> Iterator[bytes]:
            with source.open("rb") as handle:
                while piece := handle.read(PIECE):
                    yield piece

        path = f"/{quote(work_id, safe='')}/outputs/{index}"
        return put_stream(self._http, path, pieces(), size, {"x-sluice-lease": lease})
