"""Python client for versioned data (AERO): `Data`.

The seed's names and meanings: `register_function` (a dotted import path, never
code), `list_metadata("data" | "prov" | "flow")` yielding up to 15 records at a time,
`search_sources(query)`; on top of them sources, their versions, uploads, downloads
and ingestion. Every failure raises a `sluice.errors.SluiceError` carrying the
server's status and message. It authenticates on the first request, from `token` or
`$SLUICE_TOKEN` (AERO's client logged in at import).

    with Data("http://127.0.0.1:8000") as data:
        source = data.create_source("cases", url="https://example.org/cases.csv")
        data.upload_version(source["id"], b"week,cases\\n1,10\\n")
        data.download(source["id"])            # the latest version's bytes
        for page in data.list_metadata("data"):
            ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from sluice.core.plan import Document, segment
from sluice.core.sender import Sender, file_pieces, get_stream, put_stream
from sluice.plans import data as plans
from sluice.plans.flows import page

MetadataType = Literal["data", "prov", "flow"]


def function_path(func: Callable[..., Any] | str) -> str:
    """The dotted import path a worker imports `func` by; ValueError for a function
    that is not importable (defined in `__main__`, a notebook, inside another
    function, or a lambda): move it into a module installed on the workers."""
    if isinstance(func, str):
        return func
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname:
        raise ValueError(f"{func!r} has no module and name to import it by")
    if module == "__main__" or "<" in qualname:
        raise ValueError(
            f"{module}.{qualname} cannot be imported by a worker (defined in __main__, "
            "inside a function, or a lambda): move it into a module installed on the "
            "workers and register it from there"
        )
    return f"{module}.{qualname}"


class Data(Sender):
    """Blocking client for versioned data of one Sluice server (`/aero`); arguments
    as `sluice.core.sender.Sender`."""

    prefix = "/aero"

    def register_function(self, func: Callable[..., Any] | str, description: str = "") -> str:
        """Record `func` (or a dotted path) for flows to run; its function id.
        Conflict (409) if it is registered already; ValueError if not importable."""
        found = self._run(plans.register_function(function_path(func), description))
        function_id: str = found["id"]
        return function_id

    def list_metadata(self, metadata_type: MetadataType) -> Iterator[list[Document]]:
        """The records of `metadata_type` ("data", "prov" or "flow"), newest first,
        up to 15 at a time; the generator ends after the last page."""
        if metadata_type not in plans.KINDS:
            raise ValueError(f"metadata_type must be one of {', '.join(plans.KINDS)}")
        kind, offset = plans.KINDS[metadata_type], 0
        while True:
            found = self._run(page(kind, offset, plans.PAGE))
            if not found["items"]:
                return
            yield found["items"]
            offset += len(found["items"])
            if offset >= found["total"]:
                return

    def search_sources(
        self, query: str, limit: int = 10, offset: int = 0, latest_only: bool = False
    ) -> list[Document]:
        """The versions matching `query` (syntax: README, Versioned data), newest
        first, each with its source as `data`. BadRequest for a bad query."""
        items: list[Document] = self._run(plans.search(query, offset, limit, latest_only))["items"]
        return items

    def create_source(
        self,
        name: str,
        url: str | None = None,
        description: str = "",
        tags: Sequence[str] = (),
    ) -> Document:
        """A new data source (`url`: where ingestion fetches it)."""
        body = {"name": name, "url": url, "description": description, "tags": list(tags)}
        return self._run(plans.create(body))

    def get_source(self, data_id: str) -> Document:
        """One data source (`available_versions`, `latest_version`...). NotFound."""
        return self._run(plans.get(data_id))

    def update_source(self, data_id: str, **changes: Any) -> Document:
        """Change any of `name`, `url`, `description`, `tags`; the source after."""
        return self._run(plans.update(data_id, changes))

    def list_versions(self, data_id: str) -> list[Document]:
        """Every version of a source, oldest first."""
        return self._run(plans.versions(data_id))

    def get_version(self, data_id: str, version: int | None = None) -> Document:
        """One version (the latest by default). NotFound."""
        return self._run(plans.version(data_id, version))

    def upload_version(
        self,
        data_id: str,
        content: bytes | str | Path,
        file_name: str | None = None,
        file_type: str = "application/octet-stream",
    ) -> Document:
        """Commit bytes (or the file at a path, streamed) as a new version unless they
        equal the latest: `{created, version}`."""
        if isinstance(content, bytes):
            return self._run(plans.upload(data_id, content, file_name, file_type))
        path = Path(content)
        query = urlencode({"file_name": file_name or path.name, "file_type": file_type})
        return put_stream(
            self._http, f"/data/{segment(data_id)}/versions?{query}",
            file_pieces(path), path.stat().st_size, method="POST",
        )  # fmt: skip

    def download(self, data_id: str, version: int | None = None) -> bytes:
        """A version's bytes (the latest by default), in memory: see `download_to`."""
        return self._run(plans.download(data_id, version))

    def download_to(self, data_id: str, target: str | Path, version: int | None = None) -> Path:
        """Stream a version's bytes (the latest by default) into the file `target`,
        checked against the version's sha256 (ProtocolError if they differ); its path."""
        found = self.get_version(data_id, version)
        path = f"/data/{segment(data_id)}/versions/{found['version']}/content"
        return get_stream(self._http, path, Path(target), lambda _: str(found["sha256"] or ""))

    def ingest(self, data_id: str, force: bool = False) -> Document:
        """Fetch the source's URL now: `{status: created|unchanged|failed, version,
        error}`; `force` skips the conditional GET."""
        return self._run(plans.ingest(data_id, force))

    def notify(
        self,
        data_id: str,
        etag: str | None = None,
        size: int | None = None,
        url: str | None = None,
    ) -> Document:
        """Say the source's upstream changed: its INGESTION_EVENT flow fetches it once.
        The run queued (`trigger` "notify"), or `{"coalesced": True}` when it joined the
        run in flight. BadRequest if no such flow produces the source."""
        given = {"etag": etag, "size": size, "url": url}
        return self._run(plans.notify(data_id, {k: v for k, v in given.items() if v is not None}))
