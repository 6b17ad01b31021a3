"""Users (`users`) and their login sessions (`users.sessions`).

A user has a unique name, a scrypt password hash, scopes and pipeline patterns; only an
admin creates or deletes one. Logging in with the right password opens a session: a
random secret (`sls_` + 32 bytes) whose SHA-256 is the session's `_id`, valid for
SLUICE_SESSION_TTL seconds unless ended sooner by logout. A session acts as a
`Principal` named `user:<name>` with the user's scopes and patterns as they are now
(read on every request), so every existing scope and pipeline check applies to it.
A revoked session is kept until it would have expired (so it is refused as "revoked"),
then removed at a later login.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from schemas.users import MAX_PASSWORD, MIN_PASSWORD, UserRequest
from service.auth.principal import Principal
from service.auth.tokens import beyond, digest, within
from service.db import Database, Document
from service.errors import BadRequest, Conflict, NotFound, Unauthorized
from service.settings import Settings
from service.users import passwords

USERS = "users"
SESSIONS = "users.sessions"
#: Password reset requests: the SHA-256 of the request id, the user, expiry, use.
RESETS = "users.resets"
#: Every session secret starts with this (API tokens start with `slc_`).
SESSION_PREFIX = "sls_"
#: Longer secrets are refused unread.
MAX_SECRET = 256
#: Principal names of sessions are `user:<name>`: never a valid token name.
PRINCIPAL_PREFIX = "user:"

USER_INDEXES = [IndexModel([("username", ASCENDING)], unique=True, name="username_unique")]
SESSION_INDEXES = [
    IndexModel([("expires", ASCENDING)], name="expires"),
    IndexModel([("user_id", ASCENDING)], name="user_id"),
]


def public(user: Document) -> Document:
    """The wire form (`schemas.users.UserInfo`) of a stored user."""
    return {
        "id": user["_id"],
        "username": user["username"],
        "scopes": user["scopes"],
        "pipelines": user["pipelines"],
        "created": user["created"],
        "created_by": user["created_by"],
    }


def principal_of(user: Document) -> Principal:
    """The caller a session of `user` acts as."""
    return Principal(
        PRINCIPAL_PREFIX + user["username"],
        user["username"],
        frozenset(user["scopes"]),
        tuple(user.get("pipelines") or ()),
    )


def bad_credentials() -> Unauthorized:
    """The one answer to a failed login: it never says whether the name or the password
    was wrong."""
    return Unauthorized("wrong username or password", {"reason": "bad_credentials"})


class UserStore:
    """Create, list and delete users; open, check and end their sessions."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.settings = settings
        self.users = database.db[USERS]
        self.sessions = database.db[SESSIONS]
        self.resets = database.db[RESETS]

    async def create_indexes(self) -> None:
        await self.users.create_indexes(USER_INDEXES)
        await self.sessions.create_indexes(SESSION_INDEXES)
        await self.resets.create_indexes([IndexModel([("expires", ASCENDING)], name="expires")])

    async def create(self, request: UserRequest, creator: Principal) -> Document:
        """Store a new user; its public fields. 409 if the name is taken; 403 when
        `creator` is pipeline-limited and the user's patterns are not within its own."""
        if not creator.covers(request.pipelines):
            raise beyond(creator, "create users", list(request.pipelines))
        document: Document = {
            "_id": uuid.uuid4().hex[:24],
            "username": request.username,
            "password": await passwords.hash_async(request.password),
            "scopes": sorted(set(request.scopes)),
            "pipelines": list(dict.fromkeys(request.pipelines)),
            "created": time.time(),
            "created_by": creator.who,
        }
        try:
            await self.users.insert_one(document)
        except DuplicateKeyError:
            raise Conflict(
                f"a user named {request.username!r} exists", {"username": request.username}
            ) from None
        return public(document)

    async def list(self, caller: Principal | None = None) -> list[Document]:
        """Every user `caller` may see (a pipeline-limited caller: those within its
        patterns), in creation order; no hashes."""
        cursor = self.users.find({}, sort=[("created", ASCENDING)])
        return [public(user) async for user in cursor if caller is None or within(user, caller)]

    async def delete(self, username: str, caller: Principal | None = None) -> Document:
        """Delete the user `username` and end all its sessions; the deleted user. 404;
        403 when `caller` is pipeline-limited and the user reaches beyond it."""
        selected: Document = {"username": username}
        if caller is not None and caller.restricted:
            stored = await self.users.find_one(selected)
            if stored is not None and not within(stored, caller):
                raise beyond(caller, "delete users", list(stored.get("pipelines") or []))
            # Conditional on the patterns checked.
            selected["pipelines"] = stored["pipelines"] if stored is not None else []
        removed = await self.users.find_one_and_delete(selected)
        if removed is None:
            raise NotFound(f"no user named {username!r}", {"username": username})
        await self.sessions.delete_many({"user_id": removed["_id"]})
        await self.resets.delete_many({"user_id": removed["_id"]})
        return public(removed)

    async def login(
        self, username: str, password: str, surface: str | None = None, ttl: float | None = None
    ) -> tuple[str, Document]:
        """Check the password and open a session: its secret and the user's public
        fields. 401 `bad_credentials` for an unknown name or a wrong password alike.

        A session opened for a `surface` (e.g. "flowserv") is accepted only where that
        surface authenticates (`authenticate(secret, surface)`), never elsewhere; it
        lasts `ttl` seconds (default SLUICE_SESSION_TTL)."""
        user = await self.users.find_one({"username": username})
        if len(password) > MAX_PASSWORD or "\x00" in password:  # no password holds one
            raise bad_credentials()
        # An unknown name is checked against a decoy hash: it takes as long to refuse.
        matches = await passwords.verify_async(
            password, user["password"] if user is not None else passwords.DECOY_HASH
        )
        if user is None or not matches:
            raise bad_credentials()
        now = time.time()
        await self.sessions.delete_many({"expires": {"$lt": now}})
        secret = SESSION_PREFIX + secrets.token_urlsafe(32)
        await self.sessions.insert_one(
            {
                "_id": digest(secret),
                "user_id": user["_id"],
                "username": user["username"],
                "created": now,
                "expires": now + (self.settings.session_ttl if ttl is None else ttl),
                "revoked": None,
                "surface": surface,
            }
        )
        # The password may have changed (or the user gone) while it was being checked:
        # a reset ends the sessions there are after it changes the hash, so one opened
        # with the old password after that must not outlive it.
        if await self.users.find_one({"_id": user["_id"], "password": user["password"]}) is None:
            await self.sessions.delete_one({"_id": digest(secret)})
            raise bad_credentials()
        return secret, public(user)

    async def _live_session(self, secret: str, now: float, surface: str | None) -> Document:
        invalid = Unauthorized("the session is not valid; log in again", {"reason": "invalid"})
        if not secret.startswith(SESSION_PREFIX) or len(secret) > MAX_SECRET:
            raise invalid
        session = await self.sessions.find_one({"_id": digest(secret)})
        # A session of another surface is as unknown here (sessions before surfaces: None).
        if session is None or session.get("surface") != surface:
            raise invalid
        if session["revoked"] is not None:
            raise Unauthorized(
                "the session was ended by logout; log in again", {"reason": "revoked"}
            )
        if session["expires"] <= now:
            raise Unauthorized(
                "the session expired (SLUICE_SESSION_TTL); log in again", {"reason": "expired"}
            )
        return session

    async def authenticate(
        self, secret: str, surface: str | None = None
    ) -> tuple[Principal, Document]:
        """The principal of a live session and its user's public fields; 401 if the
        session is unknown, of another surface than `surface`, ended, expired or its
        user was deleted."""
        session = await self._live_session(secret, time.time(), surface)
        user = await self.users.find_one({"_id": session["user_id"]})
        if user is None:
            raise Unauthorized("the session's user no longer exists", {"reason": "invalid"})
        return principal_of(user), public(user)

    async def logout(self, secret: str, surface: str | None = None) -> None:
        """End the session `secret` (of `surface`); 401 if it is not a live session."""
        now = time.time()
        session = await self._live_session(secret, now, surface)
        # An update_one: nothing is read back, and the embedded database's
        # find_one_and_update would scan every session ever opened.
        ended = await self.sessions.update_one(
            {"_id": session["_id"], "revoked": None}, {"$set": {"revoked": now}}
        )
        if not ended.matched_count:
            # A concurrent logout of the same session got there first.
            raise Unauthorized(
                "the session was ended by logout; log in again", {"reason": "revoked"}
            )

    async def find(self, username: str) -> Document:
        """The public fields of user `username`; 404 if there is none."""
        user = await self.users.find_one({"username": username})
        if user is None:
            raise NotFound(f"no user named {username!r}", {"username": username})
        return public(user)

    async def by_ids(self, ids: Iterable[str]) -> dict[str, Document]:
        """The public fields of the users among `ids` that exist, by id."""
        cursor = self.users.find({"_id": {"$in": list(dict.fromkeys(ids))}})
        return {user["_id"]: public(user) async for user in cursor}

    async def request_reset(self, username: str, caller: Principal) -> str:
        """A new password reset id for user `username` (valid for
        SLUICE_PASSWORD_RESET_TTL seconds, once); 404; 403 when `caller` is
        pipeline-limited and the user reaches beyond it."""
        user = await self.users.find_one({"username": username})
        if user is None:
            raise NotFound(f"no user named {username!r}", {"username": username})
        if not within(user, caller):
            raise beyond(caller, "reset passwords of users", list(user.get("pipelines") or []))
        now = time.time()
        await self.resets.delete_many({"expires": {"$lt": now}})
        request_id = secrets.token_hex(16)
        await self.resets.insert_one(
            {
                "_id": digest(request_id),
                "user_id": user["_id"],
                "expires": now + self.settings.password_reset_ttl,
                "used": None,
            }
        )
        return request_id

    async def reset_password(self, request_id: str, password: str) -> Document:
        """Set the password of the reset request's user and end all its sessions; the
        user's public fields. 400 for an unknown, used or expired request id."""
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or "\x00" in password:
            raise BadRequest(
                f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters, no NUL",
                {"min": MIN_PASSWORD, "max": MAX_PASSWORD},
            )
        now = time.time()
        hashed = await passwords.hash_async(password)
        # Spent before the password changes: a request id sets at most one password.
        spent = await self.resets.find_one_and_update(
            {"_id": digest(request_id), "used": None, "expires": {"$gt": now}},
            {"$set": {"used": now}},
        )
        if spent is None:
            raise BadRequest("unknown, used or expired password reset request", {"reason": "reset"})
        user = await self.users.find_one_and_update(
            {"_id": spent["user_id"]},
            {"$set": {"password": hashed}},
            return_document=ReturnDocument.AFTER,
        )
        if user is None:
            raise BadRequest("the reset request's user no longer exists", {"reason": "reset"})
        await self.sessions.delete_many({"user_id": user["_id"]})
        # Every other reset id of the user ends with this one: a password just set is
        # not to be set again by an older id.
        await self.resets.update_many(
            {"user_id": user["_id"], "used": None}, {"$set": {"used": now}}
        )
        return public(user)
