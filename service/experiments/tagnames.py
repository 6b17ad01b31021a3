"""How tags are spelled: the first spelling of each tag, anywhere (collection
`experiments.tag_names`, `{_id: lower-case tag, name: spelling}`).

Experiments carry their tags lower case, so matching is case-insensitive and indexed;
they are shown with the spelling the tag was first created with, as Aqueduct does.
"""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from service.db import Database, Document

COLLECTION = "experiments.tag_names"
DUPLICATE_KEY = 11000


class TagNames:
    """Remember first spellings; spell stored tags."""

    def __init__(self, database: Database) -> None:
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]

    async def register(self, tags: list[str]) -> None:
        """Remember the spelling of each of the (valid) `tags` not seen before; a tag
        already known keeps its first spelling."""
        firsts: dict[str, str] = {}
        for tag in tags:
            firsts.setdefault(tag.lower(), tag)
        if not firsts:
            return
        try:
            await self.collection.insert_many(
                [{"_id": key, "name": name} for key, name in firsts.items()], ordered=False
            )
        except BulkWriteError as exc:
            # Insert, never upsert: an existing name is a duplicate key, and is kept.
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise

    async def spell(self, keys: list[str]) -> dict[str, str]:
        """The spelling of each lower-case tag of `keys` (itself if none is known)."""
        wanted = list(dict.fromkeys(keys))
        names = {key: key for key in wanted}
        if wanted:
            async for known in self.collection.find({"_id": {"$in": wanted}}):
                names[known["_id"]] = known["name"]
        return names

    async def shown(self, records: list[Document]) -> list[Document]:
        """`records` (as clients see them) with their tags spelled."""
        names = await self.spell([tag for record in records for tag in record["tags"]])
        for record in records:
            record["tags"] = [names[tag] for tag in record["tags"]]
        return records
