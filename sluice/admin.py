"""Python clients for Sluice's admin API: tokens, users and the audit trail. `Admin` (blocking)
and `AsyncAdmin` (asyncio); the token they use needs the `admin` scope.

    with Admin("http://127.0.0.1:8000", token=bootstrap_secret) as admin:
        created = admin.create_token("worker-1", ["work", "read"], pipelines=["frb-*"])
        print(created["token"])  # shown only now
"""

from __future__ import annotations

from collections.abc import Sequence

from sluice.core.plan import Call, Document, Plan, expect, segment
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
    answer = yield Call("POST", f"/tokens/{segment(name)}/revoke")
    return expect(answer, dict, "the revoked token")


def create_user(
    username: str, password: str, scopes: Sequence[str], pipelines: Sequence[str] = ()
) -> Plan[Document]:
    """POST /users: the new user (never its password)."""
    body: Document = {"username": username, "password": password, "scopes": list(scopes),
                      "pipelines": list(pipelines)}  # fmt: skip
    answer = yield Call("POST", "/users", json=body)
    return expect(answer, dict, "the created user")


def users() -> Plan[list[Document]]:
    """GET /users: every user."""
    answer = yield Call("GET", "/users")
    return expect(answer, list, "a JSON array of users")


def delete_user(username: str) -> Plan[Document]:
    """DELETE /users/{username}: the deleted user."""
    answer = yield Call("DELETE", f"/users/{segment(username)}")
    return expect(answer, dict, "the deleted user")


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

    def create_user(self, username: str, password: str, scopes: Sequence[str],
                    pipelines: Sequence[str] = ()) -> Document:  # fmt: skip
        """Create a user who logs in with `password` (Alpine clients); Conflict if the
        name is taken. The user acts with `scopes` within `pipelines` (empty: all)."""
        return self._run(create_user(username, password, scopes, pipelines))

    def users(self) -> list[Document]:
        """Every user (never a password hash)."""
        return self._run(users())

    def delete_user(self, username: str) -> Document:
        """Delete a user and end its sessions; NotFound for an unknown name."""
        return self._run(delete_user(username))

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

    async def create_user(self, username: str, password: str, scopes: Sequence[str],
                          pipelines: Sequence[str] = ()) -> Document:  # fmt: skip
        """See `Admin.create_user`."""
        return await self._run(create_user(username, password, scopes, pipelines))

    async def users(self) -> list[Document]:
        """See `Admin.users`."""
        return await self._run(users())

    async def delete_user(self, username: str) -> Document:
        """See `Admin.delete_user`."""
        return await self._run(delete_user(username))

    async def audit(self, action: str | None = None, since: float | None = None,
                    before: float | None = None, limit: int = 100) -> list[Document]:  # fmt: skip
        """See `Admin.audit`."""
        return await self._run(audit(action, since, before, limit))


__all__ = ["Admin", "AsyncAdmin"]
