"""The leaderboard of a workflow, computed in MongoDB.

Rows are the workflow's ranked runs (SUCCESS with a valid result). Order: the
requested columns, else the template's `orderBy`, else its first column descending;
ties go to the earlier run. A missing value ranks after every present one, whichever
the direction. Without `include_all`, each group keeps its best run only.

Index: a run entering the ranking stores the keys of its workflow's default order in
`rank.k0..k2` (a descending number negated, a missing value as MaxKey, so all three
sort ascending), and `(workflow_id, ranked, rank.k0, rank.k1, rank.k2, created_at, _id)`
is indexed: the default ranking's sort is exactly the index's order after the equality
keys, so it is read in index order. Another order (or a default one
through a string column sorted descending, or more than three keys) is sorted on keys
computed by the query. Either way at most SLUICE_LEADERBOARD_MAX_RANKED runs, the best
by that order, are considered, so no request makes the database sort without bound.
"""

from __future__ import annotations

from typing import Any

from bson.max_key import MaxKey
from bson.min_key import MinKey
from pymongo import ASCENDING, IndexModel

from service.db import Document
from service.errors import BadRequest

#: Default-order keys kept on a run (and in the index).
STORED_KEYS = 3
INDEX = IndexModel(
    [("workflow_id", ASCENDING), ("ranked", ASCENDING),
     *[(f"rank.k{i}", ASCENDING) for i in range(STORED_KEYS)], ("created_at", ASCENDING),
     ("_id", ASCENDING)],
    name="ranking",
)  # fmt: skip
#: A sort key: a column name and whether it sorts descending.
Order = list[tuple[str, bool]]


class InvalidOrder(BadRequest):
    code = "invalid_order"


def default_order(results: Document) -> Order:
    """The template's `orderBy`, else its first column descending."""
    if results["orderBy"]:
        return [(key["name"], key["sortDesc"]) for key in results["orderBy"]]
    return [(results["schema"][0]["name"], True)]


def check_order(results: Document | None, order: Order) -> Order:
    """`order` if it names only result columns, each once; InvalidOrder (400)."""
    if results is None:
        raise InvalidOrder("this workflow has no result schema to rank by")
    names = {column["name"] for column in results["schema"]}
    seen: set[str] = set()
    for name, _ in order:
        if name not in names or name in seen:
            raise InvalidOrder(
                f"cannot sort by {name[:128]!r}: not a result column, or named twice",
                {"column": name[:128], "columns": sorted(names)},
            )
        seen.add(name)
    return order


def _dtypes(results: Document) -> dict[str, str]:
    return {column["name"]: column["dtype"] for column in results["schema"]}


def storable(results: Document) -> bool:
    """Whether the default order's keys can be kept on runs (and read by the index)."""
    order, dtypes = default_order(results), _dtypes(results)
    return len(order) <= STORED_KEYS and not any(
        desc and dtypes[name] == "string" for name, desc in order
    )


def stored_keys(results: Document, values: dict[str, Any]) -> dict[str, Any]:
    """The `rank` keys of a run with `values`, if the default order is storable."""
    if not storable(results):
        return {}
    keys: dict[str, Any] = {}
    for i, (name, desc) in enumerate(default_order(results)):
        value = values.get(name)
        keys[f"k{i}"] = MaxKey() if value is None else (-value if desc else value)
    for i in range(len(keys), STORED_KEYS):
        keys[f"k{i}"] = None
    return keys


def _sort_plan(results: Document, order: Order | None) -> tuple[Document, Document]:
    """`($addFields stage or {}, $sort spec)` for `order` (None: the default)."""
    if order is None and storable(results):
        stored: Document = {f"rank.k{i}": ASCENDING for i in range(STORED_KEYS)}
        return {}, {**stored, "created_at": ASCENDING, "_id": ASCENDING}
    keys: Document = {}
    sort: Document = {}
    for i, (name, desc) in enumerate(order or default_order(results)):
        # Missing sorts last either way: MinKey descending, MaxKey ascending.
        missing = MinKey() if desc else MaxKey()
        keys[f"_k{i}"] = {"$ifNull": [f"$results.{name}", {"$literal": missing}]}
        sort[f"_k{i}"] = -1 if desc else 1
    return keys, {**sort, "created_at": ASCENDING, "_id": ASCENDING}


def pipeline(
    workflow_id: str,
    results: Document,
    order: Order | None,
    include_all: bool,
    skip: int,
    limit: int,
    cap: int,
) -> list[Document]:
    """The aggregation answering one page of the leaderboard (see the module)."""
    keys, sort = _sort_plan(results, order)
    stages: list[Document] = [{"$match": {"workflow_id": workflow_id, "ranked": True}}]
    if keys:
        stages.append({"$addFields": keys})
    stages += [{"$sort": sort}, {"$limit": cap}]
    if not include_all:
        stages += [
            {"$group": {"_id": "$group_id", "best": {"$first": "$$ROOT"}}},
            {"$replaceRoot": {"newRoot": "$best"}},
            {"$sort": sort},
        ]
    stages += [
        {"$skip": skip},
        {"$limit": limit},
        {"$project": {"rank": 0, **dict.fromkeys(keys, 0)}},
    ]
    return stages


def parse_order(text: str | None) -> Order | None:
    """flowServ's `orderBy` text, `col[:ASC|DESC],...`: None when empty; a suffix
    `ASC` (any case) sorts ascending, anything else descending."""
    if not text or not text.strip():
        return None
    order: Order = []
    for part in text.split(","):
        name, _, direction = part.partition(":")
        if not name.strip():
            raise InvalidOrder(f"malformed orderBy {text[:200]!r}", {"orderBy": text[:200]})
        order.append((name.strip(), direction.strip().upper() != "ASC"))
    return order
