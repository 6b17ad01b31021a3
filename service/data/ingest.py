"""Ingestion: fetch a data source's URL and commit a new version only if the content
changed.

The fetch runs in the Sluice process with httpx's asynchronous client, so it never
blocks the event loop or other requests. It is a conditional GET (the ETag and
Last-Modified of the last fetch), to hosts listed in SLUICE_AERO_INGEST_HOSTS only
(none by default), each redirect checked again, within SLUICE_AERO_INGEST_MAX_BYTES
and SLUICE_AERO_INGEST_TIMEOUT. A non-2xx answer never becomes a version: AERO
committed error pages. Upstream trouble is a `failed` result naming its cause, not
an exception, so a run can record it.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx

from service.data.blobs import Blob
from service.data.commits import upstream_key
from service.data.fields import DEFAULT_TYPE, http_url, media_type
from service.data.store import DataStore
from service.db import Document
from service.errors import PayloadTooLarge
from service.settings import Settings

Status = Literal["created", "unchanged", "failed"]
#: Seconds to connect to the upstream (the whole fetch has SLUICE_AERO_INGEST_TIMEOUT).
CONNECT_TIMEOUT = 10.0


@dataclass
class IngestResult:
    """What one ingestion did. `error` ({code, message}) is set when `failed`; codes:
    no_url, host_not_allowed, bad_url, too_many_redirects, http_status, too_large,
    timeout, network."""

    status: Status
    data_id: str
    url: str | None
    version: Document | None = None
    http_status: int | None = None
    error: dict[str, Any] | None = field(default=None)


class _TooLarge(Exception):
    pass


def parse_hosts(raw: str) -> tuple[str, ...]:
    """The host entries of SLUICE_AERO_INGEST_HOSTS, lower-cased, IPs normalised."""
    return tuple(_normal(entry) for entry in raw.split(",") if entry.strip())


def _normal(host: str) -> str:
    host = host.strip().lower().strip("[]").rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether `host` is listed: exactly, or under a `*.domain` entry."""
    name = _normal(host)
    for entry in allowed:
        if entry.startswith("*."):
            if name.endswith(entry[1:]) and len(name) > len(entry) - 1:
                return True
        elif name == entry:
            return True
    return False


class Ingestor:
    """Fetch-and-commit for data sources with a URL."""

    def __init__(self, data: DataStore, settings: Settings) -> None:
        self.data = data
        self.settings = settings
        self.hosts = parse_hosts(settings.aero_ingest_hosts)

    def refusal(self, url: str) -> dict[str, Any] | None:
        """Why `url` may not be fetched ({code, message}), or None if it may."""
        parts = http_url(url)
        if parts is None or parts.hostname is None:
            return {"code": "bad_url", "message": f"not an absolute http(s) URL: {url!r}"}
        if not host_allowed(parts.hostname, self.hosts):
            return {
                "code": "host_not_allowed",
                "message": f"host {parts.hostname!r} is not in SLUICE_AERO_INGEST_HOSTS "
                f"({', '.join(self.hosts) or 'empty: no host is allowed'})",
            }
        return None

    async def ingest(
        self,
        data_id: str,
        *,
        commit_key: str | None = None,
        run_id: str | None = None,
        flow_id: str | None = None,
        force: bool = False,
    ) -> IngestResult:
        """Fetch `data_id`'s URL and commit its content if it changed (`force`: an
        unconditional GET). With `commit_key`, a repeated call answers the first
        commit's outcome without fetching. 404 for an unknown data."""
        data = await self.data.get(data_id)
        if commit_key is not None:
            prior = await self.data.committed(commit_key)
            if prior is not None:
                status: Status = "created" if prior.created else "unchanged"
                return IngestResult(status, data_id, data.get("url"), prior.version)
        fetched = await self._fetch_source(data_id, data, force)
        if isinstance(fetched, IngestResult):
            return fetched
        commit = await self.data.commit_version(
            data_id,
            raw_blob(fetched),
            file_name=fetched["file_name"],
            file_type=fetched["file_type"],
            encoding=fetched["encoding"],
            source=(fetched["md5"], fetched["sha256"]),
            run_id=run_id,
            flow_id=flow_id,
            commit_key=commit_key,
        )
        await self.remember(data_id, fetched)
        return IngestResult(
            "created" if commit.created else "unchanged",
            data_id,
            fetched["url"],
            commit.version,
            http_status=fetched["http_status"],
        )

    async def fetch(self, data_id: str, *, force: bool = False) -> IngestResult | Document:
        """Fetch `data_id`'s URL into the blob store, committing nothing (conditional
        unless `force`); the upstream fetched `{blob_id, sha256, md5, size, url,
        file_name, file_type, encoding, etag, last_modified, http_status}`, or an
        IngestResult `unchanged` (a 304) or `failed`. 404 for an unknown data."""
        return await self._fetch_source(data_id, await self.data.get(data_id), force)

    async def _fetch_source(
        self, data_id: str, data: Document, force: bool
    ) -> IngestResult | Document:
        """`fetch` of the source `data` (`data_id`'s document, already read)."""
        url = data.get("url")
        if not url:
            return IngestResult(
                "failed", data_id, None, error={"code": "no_url", "message": "the data has no url"}
            )
        headers = {}
        cache = data.get("ingest") or {}
        if not force and data.get("latest") is not None:
            if cache.get("etag"):
                headers["If-None-Match"] = cache["etag"]
            if cache.get("last_modified"):
                headers["If-Modified-Since"] = cache["last_modified"]
        seconds = self.settings.aero_ingest_timeout
        try:
            async with asyncio.timeout(seconds):
                fetched = await self._fetch(data_id, url, headers)
        except TimeoutError:
            message = f"the fetch took longer than SLUICE_AERO_INGEST_TIMEOUT ({seconds:g} s)"
            return IngestResult(
                "failed", data_id, url, error={"code": "timeout", "message": message}
            )
        if not isinstance(fetched, tuple):
            return fetched
        blob, response = fetched
        return {
            "blob_id": blob.blob_id,
            "sha256": blob.sha256,
            "md5": blob.md5,
            "size": blob.size,
            "url": str(response.url),
            "file_name": urlsplit(str(response.url)).path.rsplit("/", 1)[-1] or None,
            # An upstream's odd Content-Type is not the caller's error: stored as none.
            "file_type": media_type(response.headers.get("content-type")) or DEFAULT_TYPE,
            "encoding": response.charset_encoding,
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
            "http_status": response.status_code,
        }

    async def unchanged(self, data_id: str, upstream: Document) -> Document | None:
        """The latest version of `data_id` if it was transformed from this very
        upstream (its raw sha256), else None: a transform need not run again."""
        data = await self.data.get(data_id)
        latest = data.get("latest")
        if latest is None or latest.get("key") != upstream_key(upstream["sha256"]):
            return None
        return await self.data.latest(data_id)

    async def remember(self, data_id: str, upstream: Document) -> None:
        """Keep the upstream's validators for the next conditional GET (once what it
        sent is committed, or found unchanged)."""
        await self.data.set_ingest_cache(data_id, upstream["etag"], upstream["last_modified"])

    async def _fetch(
        self, data_id: str, url: str, headers: dict[str, str]
    ) -> IngestResult | tuple[Blob, httpx.Response]:
        timeout = httpx.Timeout(self.settings.aero_ingest_timeout, connect=CONNECT_TIMEOUT)

        def failed(code: str, message: str, status: int | None = None) -> IngestResult:
            error = {"code": code, "message": message}
            return IngestResult("failed", data_id, url, http_status=status, error=error)

        async with httpx.AsyncClient(
            follow_redirects=False, timeout=timeout, verify=_tls()
        ) as client:
            for _ in range(self.settings.aero_ingest_max_redirects + 1):
                refused = self.refusal(url)
                if refused is not None:
                    return failed(refused["code"], refused["message"])
                try:
                    request = client.build_request("GET", url, headers=headers)
                    response = await client.send(request, stream=True)
                except httpx.InvalidURL as exc:  # one only httpx's parser refuses
                    return failed("bad_url", f"not a URL httpx can fetch: {url!r}: {exc}")
                except httpx.HTTPError as exc:
                    return failed("network", f"fetching {url} failed: {type(exc).__name__}: {exc}")
                try:
                    location = response.headers.get("location")
                    if response.is_redirect and location:
                        url = urljoin(url, location)
                        continue
                    if response.status_code == 304:
                        latest = await self.data.latest(data_id)
                        return IngestResult("unchanged", data_id, url, latest, http_status=304)
                    if not 200 <= response.status_code < 300:
                        return failed(
                            "http_status",
                            f"{url} answered {response.status_code}; no version was made",
                            response.status_code,
                        )
                    try:
                        blob = await self.data.blobs.put(
                            self._body(response), self.settings.aero_ingest_max_bytes, _too_large
                        )
                    except (_TooLarge, PayloadTooLarge):
                        limit = self.settings.aero_ingest_max_bytes
                        return failed(
                            "too_large",
                            f"{url} sent more than SLUICE_AERO_INGEST_MAX_BYTES ({limit} bytes)",
                            response.status_code,
                        )
                    except httpx.HTTPError as exc:
                        return failed(
                            "network", f"reading {url} failed: {type(exc).__name__}: {exc}"
                        )
                    return blob, response
                finally:
                    await response.aclose()
        return failed(
            "too_many_redirects",
            f"more than SLUICE_AERO_INGEST_MAX_REDIRECTS "
            f"({self.settings.aero_ingest_max_redirects}) redirects",
        )

    async def _body(self, response: httpx.Response) -> AsyncIterator[bytes]:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.settings.aero_ingest_max_bytes:
            raise _TooLarge()
        async for chunk in response.aiter_raw():
            yield chunk


def raw_blob(upstream: Document) -> Blob:
    """The stored bytes of an upstream `Ingestor.fetch` brought."""
    return Blob(upstream["blob_id"], upstream["sha256"], upstream["md5"], upstream["size"])


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every fetch: building one costs more than a small fetch."""
    return httpx.create_ssl_context()


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge("the upstream body exceeds SLUICE_AERO_INGEST_MAX_BYTES")
