"""The queue owns its work lifecycle: outside `service/buckets/`, no shipped module
imports the queue's server-only field names or its collection, nor reaches the Buckets
store's collection. (Tests and benchmarks may look at the stored documents: they observe
the storage from outside, they do not change what the server does.)"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from service.buckets import documents, store

ROOT = Path(__file__).resolve().parents[3]
#: The shipped packages; `service/buckets/` itself is the owner.
SHIPPED = ("service", "sluice", "schemas")
OWNER = ROOT / "service" / "buckets"

#: Names of `service.buckets` that are the queue's storage, not its interface.
PRIVATE_NAMES = frozenset({"LEASE", "STOP", "CLOSED", "SERVER_FIELDS", "COLLECTION"})
#: String values that are the queue's storage: its server-only fields, its collection.
PRIVATE_STRINGS = frozenset({*documents.SERVER_FIELDS, store.COLLECTION})


def _modules() -> Iterator[Path]:
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not path.is_relative_to(OWNER):
                yield path


def _trespasses(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("service.buckets"):
            for alias in node.names:
                if alias.name in PRIVATE_NAMES:
                    yield node.lineno, f"imports {node.module}.{alias.name}"
        elif isinstance(node, ast.Attribute):
            if (
                node.attr in PRIVATE_NAMES
                and isinstance(node.value, ast.Name)
                and node.value.id in ("documents", "store")
            ):
                yield node.lineno, f"reads {node.value.id}.{node.attr}"
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if node.attr == "collection" and "buckets" in name:
                yield node.lineno, f"reaches {name}.collection"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            field = node.value.lstrip("$").split(".", 1)[0]
            if field in PRIVATE_STRINGS or node.value in PRIVATE_STRINGS:
                yield node.lineno, f"spells {node.value!r}"


def test_the_scan_finds_a_trespass() -> None:
    # The check itself must be able to fail.
    source = (
        "from service.buckets.documents import LEASE\n"
        "async def f(self):\n"
        "    await self.buckets.collection.delete_many({'_stop': True})\n"
    )
    found = [what for _, what in _trespasses(ast.parse(source))]
    assert found == [
        "imports service.buckets.documents.LEASE",
        "reaches buckets.collection",
        "spells '_stop'",
    ]


def test_only_buckets_touches_the_queue_storage() -> None:
    modules = list(_modules())
    assert len(modules) > 50
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in modules
        for line, what in _trespasses(ast.parse(path.read_text(), str(path)))
    ]
    assert not found, "outside service/buckets/, use BucketsStore's methods:\n" + "\n".join(found)
