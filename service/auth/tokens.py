"""API tokens in MongoDB (`auth.tokens`): created once, stored hashed, revoked in place.

A token is `slc_` + 32 random bytes (URL-safe base64). Only its SHA-256 is stored: the
secret has 256 bits of entropy, so a fast hash is enough (no salt or key stretching is
needed against guessing), and lookups by hash are exact-match index hits. Revoked tokens
are kept, marked, so their names stay taken and the audit trail stays readable.

A valid token's stored record is cached by each process for SLUICE_AUTH_CACHE_SECONDS
(at most SLUICE_AUTH_CACHE_SIZE of them), so a request does not pay a database lookup
for its token: expiry is still checked on every request, a token revoked through this
process stops working at once, one revoked through another replica within that many
seconds. Unknown, revoked and expired secrets are never cached.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from schemas.auth import TokenRequest
from service.auth.principal import Principal
from service.db import Database, Document
from service.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed

COLLECTION = "auth.tokens"
#: Every token Sluice issues starts with this, so a leaked one is easy to recognise.
PREFIX = "slc_"
#: Longer credentials are refused unread.
MAX_SECRET = 256
#: Name under which the SLUICE_ADMIN_TOKEN bootstrap secret acts (not a valid token name).
BOOTSTRAP_NAME = "SLUICE_ADMIN_TOKEN"

#: Names no token may take (compared case-insensitively): the bootstrap secret's name and
#: "anonymous" (the caller when auth is off) would make the audit trail ambiguous.
RESERVED_NAMES = frozenset({BOOTSTRAP_NAME.lower(), "anonymous"})
#: Nor may a token name start with this (compared case-insensitively): it is the
#: deployment's own namespace (SLUICE_ADMIN_TOKEN, SLUICE_TOKEN...).
RESERVED_PREFIX = "sluice_"


def check_name(name: str) -> None:
    """422 if `name` is reserved (`RESERVED_NAMES`, `RESERVED_PREFIX`)."""
    folded = name.lower()
    if folded in RESERVED_NAMES or folded.startswith(RESERVED_PREFIX):
        raise ValidationFailed(
            f"token name {name!r} is reserved (reserved: {', '.join(sorted(RESERVED_NAMES))} "
            f"and names starting with {RESERVED_PREFIX!r}, in any case)",
            {"name": name, "reserved": sorted(RESERVED_NAMES), "prefix": RESERVED_PREFIX},
        )


def within(credential: Document, caller: Principal) -> bool:
    """Whether a stored token or user (its `pipelines`) reaches only pipelines `caller`
    may touch."""
    return caller.covers(credential.get("pipelines") or [])


def beyond(caller: Principal, doing: str, patterns: list[str]) -> Forbidden:
    """The 403 for a pipeline-limited `caller` that would `doing` (e.g. "create tokens")
    a credential reaching `patterns`, beyond its own."""
    reaches = ", ".join(patterns) or "every pipeline"
    return Forbidden(
        f"token {caller.name!r} may {doing} only limited to its own pipelines "
        f"({', '.join(caller.patterns)}); this one reaches {reaches}",
        {"allowed": list(caller.patterns), "pipelines": patterns},
    )


INDEXES = [
    IndexModel([("name", ASCENDING)], unique=True, name="name_unique"),
    IndexModel([("hash", ASCENDING)], unique=True, name="hash_unique"),
    IndexModel([("task", ASCENDING)], sparse=True, name="task"),
]

#: Fields a listing shows: never the hash.
PUBLIC_FIELDS = {
    "_id": False,
    "name": True,
    "owner": True,
    "scopes": True,
    "pipelines": True,
    "created": True,
    "created_by": True,
    "expires": True,
    "revoked": True,
    "revoked_by": True,
    "experiment": True,
    "task": True,
}

#: What a task token may do: read its experiment and files, upload files (the routes
#: it may use are those declaring `Endpoint.experiment`).
TASK_SCOPES = ("deposit", "read")


def new_secret() -> str:
    """A fresh token secret."""
    return PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored for `secret`: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets (by their digests, so lengths never leak)."""
    return hmac.compare_digest(digest(given), digest(expected))


def bootstrap_principal() -> Principal:
    """The caller presenting SLUICE_ADMIN_TOKEN."""
    return Principal(BOOTSTRAP_NAME, "deploy", frozenset({"admin"}))


class TokenStore:
    """Create, list, revoke and authenticate tokens."""

    def __init__(self, database: Database, cache_seconds: float = 0.0, cache_size: int = 1) -> None:
        self.collection = database.db[COLLECTION]
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        #: Records of valid tokens by hash, with when they were read (monotonic clock).
        self._cache: OrderedDict[str, tuple[float, Document]] = OrderedDict()

    def _forget(self, key: str, value: Any) -> None:
        """Drop the cached records whose field `key` is `value` (revoked here)."""
        for hashed in [h for h, (_, d) in self._cache.items() if d.get(key) == value]:
            del self._cache[hashed]

    async def _record(self, hashed: str) -> Document | None:
        """The stored record of the token with hash `hashed`: from the cache when read
        less than SLUICE_AUTH_CACHE_SECONDS ago, else from the database."""
        if self.cache_seconds > 0:
            cached = self._cache.get(hashed)
            if cached is not None:
                if time.monotonic() - cached[0] < self.cache_seconds:
                    self._cache.move_to_end(hashed)
                    return cached[1]
                del self._cache[hashed]
        read = time.monotonic()
        stored: Document | None = await self.collection.find_one({"hash": hashed})
        return stored if stored is None else self._keep(hashed, stored, read)

    def _keep(self, hashed: str, stored: Document, read: float) -> Document:
        if self.cache_seconds > 0 and stored.get("revoked") is None:
            self._cache[hashed] = (read, stored)
            self._cache.move_to_end(hashed)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return stored

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def create(self, request: TokenRequest, creator: Principal) -> Document:
        """Store a new token; return its public fields plus `token`, the plaintext
        (never stored, never shown again). 409 if the name is taken, 422 if it is
        reserved; 403 when `creator` is pipeline-limited and the new token's patterns
        are not within its own (see `Principal.covers`)."""
        check_name(request.name)
        patterns = list(dict.fromkeys(request.pipelines))
        if not creator.covers(patterns):
            raise beyond(creator, "create tokens", patterns)
        secret = new_secret()
        now = time.time()
        document: Document = {
            "name": request.name,
            "owner": request.owner or creator.owner or "anonymous",
            "scopes": sorted(set(request.scopes)),
            "pipelines": patterns,
            "created": now,
            "created_by": creator.who,
            "expires": None if request.expires_days is None else now + request.expires_days * 86400,
            "revoked": None,
            "revoked_by": None,
            "hash": digest(secret),
        }
        try:
            await self.collection.insert_one(dict(document))
        except DuplicateKeyError:
            raise Conflict(
                f"a token named {request.name!r} exists (revoked tokens keep their name)",
                {"name": request.name},
            ) from None
        shown = {key: value for key, value in document.items() if key != "hash"}
        return {**shown, "token": secret}

    async def mint_for_task(
        self, task_id: str, experiment: Document, owner: str, pipeline: str, ttl: float
    ) -> str:
        """A new token for extension task `task_id`, bound to `experiment` (its `uuid`
        and `eid`) and `pipeline`, expiring in `ttl` seconds; return its secret."""
        secret = new_secret()
        now = time.time()
        await self.collection.insert_one(
            {
                # Under the reserved prefix: no one can create a token of this name.
                "name": f"{RESERVED_PREFIX}task-{task_id}-{secrets.token_hex(4)}",
                "owner": owner,
                "scopes": list(TASK_SCOPES),
                "pipelines": [pipeline],
                "created": now,
                "created_by": f"task {task_id}",
                "expires": now + ttl,
                "revoked": None,
                "revoked_by": None,
                "experiment": {"uuid": experiment["uuid"], "eid": experiment["eid"]},
                "task": task_id,
                "hash": digest(secret),
            }
        )
        return secret

    async def revoke_for_task(self, task_id: str) -> int:
        """Revoke the tokens of task `task_id` still valid (it ended); how many."""
        revoked = await self.collection.update_many(
            {"task": task_id, "revoked": None},
            {"$set": {"revoked": time.time(), "revoked_by": f"task {task_id} ended"}},
        )
        self._forget("task", task_id)
        return revoked.modified_count

    async def list(self, caller: Principal) -> list[Document]:
        """Every token `caller` may see, revoked ones included, in creation order; no
        hashes. A pipeline-limited caller sees only tokens within its patterns."""
        cursor = self.collection.find({}, PUBLIC_FIELDS, sort=[("created", ASCENDING)])
        return [token async for token in cursor if within(token, caller)]

    async def revoke(self, name: str, by: Principal) -> tuple[Document, bool]:
        """Mark the token `name` revoked; return it and whether this call revoked it
        (False: it already was). 404 for an unknown name; 403 when `by` is
        pipeline-limited and the token reaches beyond its patterns."""
        existing = await self.collection.find_one({"name": name}, PUBLIC_FIELDS)
        if existing is None:
            raise NotFound(f"no token named {name!r}", {"name": name})
        if not within(existing, by):
            raise beyond(by, "revoke tokens", list(existing.get("pipelines") or []))
        revoked = await self.collection.find_one_and_update(
            # A token's patterns never change, so the check above still holds.
            {"name": name, "revoked": None},
            {"$set": {"revoked": time.time(), "revoked_by": by.who}},
            projection=PUBLIC_FIELDS,
            return_document=ReturnDocument.AFTER,
        )
        self._forget("name", name)
        if revoked is not None:
            return revoked, True
        # Revoked before (or by a concurrent call): answer it as stored now.
        return await self.collection.find_one({"name": name}, PUBLIC_FIELDS) or existing, False

    async def authenticate(self, secret: str, now: float | None = None) -> Principal:
        """The principal of a presented secret; 401 if unknown, revoked or expired."""
        invalid = Unauthorized("the access token is not valid", {"reason": "invalid"})
        if not secret.startswith(PREFIX) or len(secret) > MAX_SECRET:
            raise invalid
        hashed = digest(secret)
        stored = await self._record(hashed)
        if stored is None or not hmac.compare_digest(stored["hash"], hashed):
            raise invalid
        if stored.get("revoked") is not None:
            raise Unauthorized(
                f"token {stored['name']!r} was revoked",
                {"reason": "revoked", "name": stored["name"]},
            )
        now = time.time() if now is None else now
        if stored.get("expires") is not None and stored["expires"] <= now:
            raise Unauthorized(
                f"token {stored['name']!r} expired", {"reason": "expired", "name": stored["name"]}
            )
        bound = stored.get("experiment")
        return Principal(
            stored["name"],
            stored["owner"],
            frozenset(stored["scopes"]),
            tuple(stored.get("pipelines") or ()),
            (bound["uuid"], bound["eid"]) if isinstance(bound, dict) else None,
        )
