"""Groups of leaderboard workflows (`leaderboards.groups`): teams that upload files and
start runs, with their members (user ids) and extra parameters.

A group belongs to its workflow's pipeline, copied onto it at creation: every access
checks the caller's pipeline patterns against it. A caller logged in as a user (a
login session) must besides be a member; a token not bound to a user acts on any group
of its pipelines (an operator). The creator, when a user, is a member.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from schemas.leaderboard_groups import GroupChange, GroupRequest
from service.auth.principal import Principal
from service.db import Database, Document
from service.errors import BadRequest, Conflict, Forbidden, NotFound
from service.users.store import PRINCIPAL_PREFIX, UserStore

COLLECTION = "leaderboards.groups"
INDEXES = [
    IndexModel([("workflow", ASCENDING), ("name", ASCENDING)], unique=True, name="workflow_name"),
    IndexModel([("members", ASCENDING)], name="members"),
    IndexModel([("pipeline", ASCENDING)], name="pipeline"),
]


def new_id() -> str:
    """A fresh id of a group or an uploaded file: 128 random bits in hex, so that
    download URLs holding it are capabilities."""
    return secrets.token_hex(16)


def _duplicate(name: str) -> Conflict:
    return Conflict(f"the workflow has a group named {name!r}", {"name": name})


class GroupStore:
    """Create, read, change and delete groups; decide who may act on one."""

    def __init__(self, database: Database, users: UserStore, max_results: int) -> None:
        self.collection = database.db[COLLECTION]
        self.users = users
        self.max_results = max_results

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def user_id(self, caller: Principal) -> str | None:
        """The user id of a caller logged in as a user; None for a token."""
        if caller.name is None or not caller.name.startswith(PRINCIPAL_PREFIX):
            return None
        user = await self.users.find(caller.name.removeprefix(PRINCIPAL_PREFIX))
        return str(user["id"])

    async def _known_members(self, members: list[str]) -> list[str]:
        wanted = list(dict.fromkeys(members))
        found = await self.users.by_ids(wanted)
        unknown = [member for member in wanted if member not in found]
        if unknown:
            raise BadRequest(f"unknown user id(s): {', '.join(unknown)}", {"unknown": unknown})
        return wanted

    async def create(
        self, workflow: str, pipeline: str, wanted: GroupRequest, caller: Principal
    ) -> Document:
        """Store a new group of `workflow` (of `pipeline`); the caller, if a user, is
        a member. 400 for an unknown member, 409 if the workflow has a group of that
        name, 403 outside the caller's pipelines."""
        caller.check_pipelines([pipeline])
        creator = await self.user_id(caller)
        members = await self._known_members(
            ([creator] if creator is not None else []) + wanted.members
        )
        names = [p.name for p in wanted.parameters]
        if len(set(names)) != len(names):
            raise BadRequest("the group's parameters repeat a name", {"names": names})
        document: Document = {
            "_id": new_id(),
            "name": wanted.name,
            "workflow": workflow,
            "pipeline": pipeline,
            "members": members,
            "parameters": [p.model_dump(exclude_none=True) for p in wanted.parameters],
            "config": wanted.config,
            "created_at": time.time(),
            "created_by": caller.who,
        }
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            raise _duplicate(wanted.name) from None
        return document

    async def get(self, group_id: str) -> Document:
        """The group `group_id`; 404 if there is none."""
        group = await self.collection.find_one({"_id": group_id}) if _is_id(group_id) else None
        if group is None:
            raise NotFound(f"no group {group_id[:64]!r}", {"group": group_id[:64]})
        return group

    async def existing(self, group_ids: list[str]) -> set[str]:
        """Which of these groups exist."""
        cursor = self.collection.find({"_id": {"$in": group_ids}}, {"_id": True})
        return {group["_id"] async for group in cursor}

    async def access(self, group_id: str, caller: Principal) -> Document:
        """The group, if `caller` may act on it: 403 outside its pipelines, or for a
        user who is not a member; 404 if there is none."""
        group = await self.get(group_id)
        caller.check_pipelines([group["pipeline"]])
        member = await self.user_id(caller)
        if member is not None and member not in group["members"]:
            raise Forbidden(
                f"{caller.who} is not a member of group {group['name']!r}",
                {"group": group_id},
            )
        return group

    async def listing(self, caller: Principal, workflow: str | None = None) -> list[Document]:
        """The groups `caller` may see (a user: those it is a member of), of `workflow`
        if given, oldest first; at most SLUICE_MAX_VIEW_RESULTS."""
        query: Document = {} if workflow is None else {"workflow": workflow}
        member = await self.user_id(caller)
        if member is not None:
            query["members"] = member
        cursor = self.collection.find(query, sort=[("created_at", ASCENDING)])
        found: list[Document] = []
        async for group in cursor:
            if caller.allows(group["pipeline"]):
                found.append(group)
                if len(found) >= self.max_results:
                    break
        return found

    async def names(self, group_ids: list[str]) -> dict[str, str]:
        """The names of the groups among `group_ids` that exist, by id (one query)."""
        wanted = [g for g in dict.fromkeys(group_ids) if isinstance(g, str)]
        cursor = self.collection.find({"_id": {"$in": wanted}}, {"name": True})
        return {group["_id"]: group["name"] async for group in cursor}

    async def update(self, group_id: str, change: GroupChange, caller: Principal) -> Document:
        """Rename the group and/or replace its members; the group as changed. 400 for
        an unknown member, 409 for a name taken in the workflow."""
        group = await self.access(group_id, caller)
        fields: dict[str, Any] = {}
        if change.name is not None:
            fields["name"] = change.name
        if change.members is not None:
            fields["members"] = await self._known_members(change.members)
        if not fields:
            return group
        try:
            # Conditional on the pipeline checked (a group never changes pipeline).
            changed = await self.collection.find_one_and_update(
                {"_id": group_id, "pipeline": group["pipeline"]},
                {"$set": fields},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            raise _duplicate(str(change.name)) from None
        if changed is None:
            raise NotFound(f"no group {group_id!r}", {"group": group_id})
        return changed

    async def delete(self, group_id: str, caller: Principal) -> Document:
        """Delete the group (its uploads and runs are the caller's to remove); the
        deleted group."""
        group = await self.access(group_id, caller)
        removed = await self.collection.find_one_and_delete(
            {"_id": group_id, "pipeline": group["pipeline"]}
        )
        if removed is None:
            raise NotFound(f"no group {group_id!r}", {"group": group_id})
        return removed


def _is_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)
