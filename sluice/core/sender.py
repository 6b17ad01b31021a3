"""What every Sluice API client shares: settings, connection pool and plan runner.

`Sender` (blocking) and `AsyncSender` (asyncio) send the `Call`s a protocol plan
yields and feed it what they received; `Results` and `Buckets` only add methods.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import httpx

from sluice.core import plan as protocol
from sluice.core.plan import Call, Document, Plan
from sluice.errors import ProtocolError, error_from_response, error_from_transport

T = TypeVar("T")


def default_url() -> str:
    """`$SLUICE_URL`, else http://`$SLUICE_HOST`:`$SLUICE_PORT` (the server's own
    settings, 127.0.0.1 and 8000 by default), so a client beside `make run` follows it."""
    url = os.environ.get("SLUICE_URL")
    if url:
        return url
    host = os.environ.get("SLUICE_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"  # listening everywhere: reach it on loopback
    port = os.environ.get("SLUICE_PORT") or "8000"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def client_info(base_url: str) -> Document:
    """`{name, version, baseurl}` of this client."""
    try:
        version = metadata.version("sluice")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"name": "sluice", "version": version, "baseurl": base_url}


def put_stream(
    http: httpx.Client,
    path: str,
    pieces: Any,
    size: int,
    headers: dict[str, str] | None = None,
    method: str = "PUT",
) -> Document:
    """PUT (or `method`) the byte `pieces` (an iterator, `size` bytes in all) as a raw
    body; the JSON object answered. Transport failures and error answers raise Sluice
    errors."""
    sent = {**(headers or {}), "content-length": str(size),
            "content-type": "application/octet-stream"}  # fmt: skip
    try:
        response = http.request(method, path, content=pieces, headers=sent)
    except httpx.RequestError as exc:
        raise error_from_transport(exc) from exc
    if not response.is_success:
        raise error_from_response(response)
    return protocol.expect(response.json(), dict, f"a JSON object from {method} {path}")


#: Bytes read or written per piece of a streamed transfer.
PIECE = 1024 * 1024
#: `progress(done, total)` of a streamed transfer (total None when unknown).
Progress = Callable[[int, int | None], None]


def file_pieces(path: Path, progress: Progress | None = None) -> Iterator[bytes]:
    """The bytes of the file at `path`, PIECE at a time (`progress(done, size)` after each)."""
    size, done = path.stat().st_size, 0
    with path.open("rb") as handle:
        while piece := handle.read(PIECE):
            done += len(piece)
            yield piece
            if progress:
                progress(done, size)


def get_stream(
    http: httpx.Client,
    path: str,
    target: Path,
    expected_sha256: Callable[[httpx.Headers], str] | None = None,
    progress: Progress | None = None,
    headers: dict[str, str] | None = None,
) -> Path:
    """Stream GET `path` (with `headers`) into `target`: written under a temporary name,
    PIECE at a time (`progress(done, total)` after each), its sha256 checked against
    `expected_sha256(response headers)` if given (hex; "" skips the check), then renamed;
    returns `target`. Error answers and transport failures raise Sluice errors, a
    mismatch ProtocolError; whatever fails, nothing is left behind."""
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with http.stream("GET", path, headers=headers) as response:
            if not response.is_success:
                response.read()
                raise error_from_response(response)
            total = int(response.headers.get("content-length", 0)) or None
            expected = expected_sha256(response.headers) if expected_sha256 else ""
            done = 0
            with partial.open("wb") as handle:
                for piece in response.iter_bytes(PIECE):
                    handle.write(piece)
                    digest.update(piece)
                    done += len(piece)
                    if progress:
                        progress(done, total)
        if expected and expected != digest.hexdigest():
            raise ProtocolError(f"{path}: the download does not match its checksum {expected}")
    except httpx.RequestError as exc:
        partial.unlink(missing_ok=True)
        raise error_from_transport(exc) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return target


class _Base:
    #: Path of the API under the Sluice root, such as "/results".
    prefix: ClassVar[str]

    def __init__(self, base_url: str | None, token: str | None) -> None:
        root = base_url or default_url()
        token = token if token is not None else os.environ.get("SLUICE_TOKEN")
        self.base_url = root.rstrip("/") + self.prefix
        self._headers = {"x-access-token": token} if token else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"


class Sender(_Base):
    """Blocking base client: `base_url` is the Sluice root (default `$SLUICE_URL`, else
    http://127.0.0.1:8000), `token` (default `$SLUICE_TOKEN`) travels as the
    `x-access-token` header, `timeout` is in seconds per request."""

    def __init__(
        self, base_url: str | None = None, token: str | None = None, timeout: float = 30
    ) -> None:
        super().__init__(base_url, token)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=timeout)

    def _send(self, call: Call) -> Any:
        try:
            response = self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                content=call.content,
                headers=call.headers,
            )
        except httpx.RequestError as exc:
            raise error_from_transport(exc) from exc
        return protocol.received(call, response)

    def _run(self, plan: Plan[T]) -> T:
        try:
            call = next(plan)
            while True:
                call = plan.send(self._send(call))
        except StopIteration as done:
            result: T = done.value
            return result

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def info(self) -> Document:
        """`{"client": {name, version, baseurl}, "server": <GET /version>}`."""
        return {"client": client_info(self.base_url), "server": self._run(protocol.info())}


class AsyncSender(_Base):
    """Asyncio base client; same arguments as `Sender`. Use `async with`, or
    `await aclose()` when done."""

    def __init__(
        self, base_url: str | None = None, token: str | None = None, timeout: float = 30
    ) -> None:
        super().__init__(base_url, token)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=timeout
        )

    async def _send(self, call: Call) -> Any:
        try:
            response = await self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                content=call.content,
                headers=call.headers,
            )
        except httpx.RequestError as exc:
            raise error_from_transport(exc) from exc
        return protocol.received(call, response)

    async def _run(self, plan: Plan[T]) -> T:
        try:
            call = next(plan)
            while True:
                call = plan.send(await self._send(call))
        except StopIteration as done:
            result: T = done.value
            return result

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def info(self) -> Document:
        """See `Sender.info`."""
        return {"client": client_info(self.base_url), "server": await self._run(protocol.info())}
