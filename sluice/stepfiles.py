"""The worker's client for a workfile step's files (`/workfiles/steps/...`).

`download_input` streams the n-th file staged into a held step's working directory to
a local path; `upload_output` streams a local file as the step's n-th declared output.
Both send the work's lease (`X-Sluice-Lease`): they act only while it is held.
"""

from __future__ import annotations

from pathlib import Path

from sluice.core.plan import Document, segment
from sluice.core.sender import Sender, file_pieces, get_stream, put_stream


class StepFiles(Sender):
    """Files of held workfile steps on one Sluice server (arguments as every client's)."""

    prefix = "/workfiles/steps"

    def download_input(self, work_id: str, index: int, lease: str, target: Path) -> Path:
        """Stream input `index` of step `work_id` to `target` (written under a
        temporary name, then renamed); returns `target`."""
        path = f"/{segment(work_id)}/inputs/{index}"
        return get_stream(self._http, path, target, headers={"x-sluice-lease": lease})

    def upload_output(self, work_id: str, index: int, lease: str, source: Path) -> Document:
        """Stream `source` as declared output `index` of step `work_id`; the stored
        file's `{"id", "path", "size"}`."""
        path = f"/{segment(work_id)}/outputs/{index}"
        size = source.stat().st_size
        return put_stream(self._http, path, file_pieces(source), size, {"x-sluice-lease": lease})
