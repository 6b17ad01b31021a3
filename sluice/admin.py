"""Python clients for Sluice's admin API: tokens and the audit trail. `Admin` (blocking)
and `AsyncAdmin` (asyncio); the token they use needs the `admin` scope.

    with Admin("http://127.0.0.1:8000", token=bootstrap_secret) as admin:
        created = admin.create_token("worker-1", ["work", "read"], pipelines=["frb-*"])
        print(created["token"])  # shown only now
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from sluice.core.plan import Call, Document, Plan, expect
from sluice.core.sender import AsyncSender, Sender


def create_token(
    name: str,
    scopes: Sequence[str],
    pipelines: Sequence[str] = (),
    owner: str | None = None,
    expires_days: float | None = None,
) -> Plan[Document]:
    """POST /tokens: the new token, its secret in `token`."""
    body: Document = {"name": name, "scopes": list(scopes), "pipelines": list(pipelines)}
    if owner is not None:
        body["owner"] = owner
    if expires_days is not None:
        body["expires_days"] = expires_days
    answer = yield Call("POST", "/tokens", json=body)
    return expect(answer, dict, "the created token")


def tokens() -> Plan[list[Document]]:
    """GET /tokens: every token, revoked ones included."""
    answer = yield Call("GET", "/tokens")
    return expect(answer, list, "a JSON array of tokens")


def revoke_token(name: str) -> Plan[Document]:
    """POST /tokens/{name}/revoke: the token, now revoked."""
    answer = yield Call("POST", f"/tokens/{quote(name, safe='')}/revoke")
    return expect(answer, dict, "the revoked token")


def audit(
    action: str | None = None,
    since: float | None = None,
    before: float | None = None,
    limit: int = 100,
) -> Plan[list[Document]]:
    """GET /audit: entries newest first."""
    params: list[tuple[str, str]] = [("limit", str(limit))]
    for key, value in (("action", action), ("since", since), ("before", before)):
        if value is not None:
            params.append((key, str(value)))
    answer = yield Call("GET", "/audit", params=tuple(params))
    return expect(answer, list, "a JSON array of audit entries")


class Admin(Sender):
    """Blocking client for `/admin`; arguments as for `client.Results`."""

    prefix = "/admin"

    def create_token(
        self,
        name: str,
        scopes: Sequence[str],
        pipelines: Sequence[str] = (),
        owner: str | None = None,
        expires_days: float | None = None,
    ) -> Document:
        """Create a token; the answer's `token` is its secret, which is never shown again.
        `pipelines` are fnmatch patterns (empty: all); `owner` defaults to yours."""
        return self._run(create_token(name, scopes, pipelines, owner, expires_days))

    def tokens(self) -> list[Document]:
        """Every token (never a secret or hash), revoked ones included."""
        return self._run(tokens())

    def revoke_token(self, name: str) -> Document:
        """Revoke a token (kept, marked revoked); NotFound for an unknown name."""
        return self._run(revoke_token(name))

    def audit(self, action: str | None = None, since: float | None = None,
              before: float | None = None, limit: int = 100) -> list[Document]:  # fmt: skip
        """Audit entries newest first, optionally of one `action`, within [since, before)."""
        return self._run(audit(action, since, before, limit))


class AsyncAdmin(AsyncSender):
    """Asyncio client for `/admin`; same methods as `Admin`, as coroutines."""

    prefix = "/admin"

    async def create_token(
        self,
        name: str,
        scopes: Sequence[str],
        pipelines: Sequence[str] = (),
        owner: str | None = None,
        expires_days: float | None = None,
    ) -> Document:
        """See `Admin.create_token`."""
        return await self._run(create_token(name, scopes, pipelines, owner, expires_days))

    async def tokens(self) -> list[Document]:
        """See `Admin.tokens`."""
        return await self._run(tokens())

    async def revoke_token(self, name: str) -> Document:
        """See `Admin.revoke_token`."""
        return await self._run(revoke_token(name))

    async def audit(self, action: str | None = None, since: float | None = None,
                    before: float | None = None, limit: int = 100) -> list[Document]:  # fmt: skip
        """See `Admin.audit`."""
        return await self._run(audit(action, since, before, limit))


__all__ = ["Admin", "AsyncAdmin"]
