"""What flows need of the data, function and ingestion stores (service.data), as
protocols: the flows package calls these methods and never touches their collections."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any, Protocol

from pymongo.asynchronous.client_session import AsyncClientSession

from service.db import Document
from service.errors import SluiceError


class Committed(Protocol):
    """A commit's outcome: a new version, or the latest when the content was its."""

    @property
    def created(self) -> bool: ...
    @property
    def version(self) -> Document: ...


class Fetched(Protocol):
    """An ingestion's outcome: `created`, `unchanged` or `failed` (with `error`)."""

    @property
    def status(self) -> str: ...
    @property
    def version(self) -> Document | None: ...
    @property
    def error(self) -> dict[str, Any] | None: ...


class Stored(Protocol):
    """Bytes held in the blob store."""

    @property
    def blob_id(self) -> str: ...


class Blobs(Protocol):
    """The content-addressed blob store of data versions."""

    async def put(
        self,
        content: bytes | AsyncIterable[bytes],
        max_bytes: int,
        too_large: Callable[[], SluiceError],
    ) -> Stored:
        """Store the bytes, streamed (once per distinct content); the blob."""
        ...

    async def get(self, blob_id: str) -> Any:
        """The blob `blob_id` (as `commit_version` takes it); NotFound if none."""
        ...


class Sources(Protocol):
    """Data sources and their versions."""

    listeners: list[Callable[[Document], Awaitable[None]]]

    @property
    def blobs(self) -> Blobs: ...

    def too_large(self) -> SluiceError:
        """The error for content past SLUICE_AERO_MAX_VERSION_BYTES."""
        ...

    async def notify(self, version: Document) -> None:
        """Tell the listeners about a version created in a caller's transaction."""
        ...

    async def get(self, data_id: Any) -> Document:
        """The source (`_id`, `name`, `url`, `latest`...); NotFound if unknown."""
        ...

    async def version(self, data_id: str, number: int) -> Document:
        """Version `number` of the source; NotFound if there is none."""
        ...

    async def create(
        self, name: Any, *, owner: str, url: Any = None, description: Any = "",
        tags: Any = None, kind: str = "source", producer_flow_id: str | None = None,
        storage_hint: Document | None = None, session: AsyncClientSession | None = None,
    ) -> Document:  # fmt: skip
        """A new source (in `session`'s transaction if given)."""
        ...

    async def set_producer(self, data_id: str, flow_id: str) -> Document:
        """Make `flow_id` the source's producer; Conflict if another flow is."""
        ...

    async def commit_version(
        self, data_id: str, content: Any, *, file_name: str | None = None,
        file_type: str | None = None,
        source: tuple[str, str] | None = None, transformed: bool = False, forced: bool = False,
        run_id: str | None = None, flow_id: str | None = None, commit_key: str | None = None,
        session: AsyncClientSession | None = None,
    ) -> Committed:  # fmt: skip
        """Commit `content` (bytes or a stored blob) of media type `file_type` (None: the
        default) unless it is the latest's (with `transformed`, unless the latest was
        transformed from the same raw upstream, `source` its md5 and sha256; `forced`:
        unless the bytes are the latest's); idempotent on `commit_key`; in `session`'s
        transaction if given (the caller then `notify`s)."""
        ...

    async def commit_reference(
        self, data_id: str, *, checksum: str, file_name: str, file_type: str = ...,
        size: int | None = None, encoding: str | None = None, source_key: str | None = None,
        run_id: str | None = None, flow_id: str | None = None, commit_key: str | None = None,
        session: AsyncClientSession | None = None,
    ) -> Committed:  # fmt: skip
        """Commit a reference-only version (no bytes; compared with the latest by the
        `checksum` given), as `commit_version` does."""
        ...


class Functions(Protocol):
    """Registered functions (dotted import paths)."""

    async def get(self, function_id: Any) -> Document:
        """The function (`_id`, `path`, ...); NotFound if unknown."""
        ...

    async def record_meta(self, function_id: str, meta: Document) -> Document:
        """Record what a worker reported of the function (distribution, version)."""
        ...


class Ingestion(Protocol):
    """Fetch-and-commit of a source's URL."""

    async def ingest(
        self, data_id: str, *, commit_key: str | None = None, run_id: str | None = None,
        flow_id: str | None = None, force: bool = False,
    ) -> Fetched:  # fmt: skip
        """Fetch and commit what changed; idempotent on `commit_key`."""
        ...

    async def fetch(self, data_id: str, *, force: bool = False) -> Fetched | Document:
        """Fetch the source's URL into the blob store, committing nothing: the upstream
        (`blob_id`, `sha256`, `md5`, `file_name`, `etag`...), or `unchanged` (a 304) or
        `failed`."""
        ...

    async def unchanged(self, data_id: str, upstream: Document) -> Document | None:
        """The latest version if it was transformed from this very upstream."""
        ...

    async def remember(self, data_id: str, upstream: Document) -> None:
        """Keep the upstream's ETag and Last-Modified for the next conditional GET."""
        ...

    def refusal(self, url: str) -> dict[str, Any] | None:
        """Why `url` may not be fetched ({code, message}: not an absolute http(s) URL,
        or its host not in SLUICE_AERO_INGEST_HOSTS), or None if it may."""
        ...
