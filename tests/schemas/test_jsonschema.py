"""The committed JSON Schema files are exactly what the models generate."""

from __future__ import annotations

import pytest

from schemas.jsonschema import SCHEMA_DIR, render_all


@pytest.mark.parametrize("name", sorted(render_all()))
def test_schema_file_is_generated_from_the_model(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.exists(), f"run `make schemas` to write {path.name}"
    assert path.read_text() == render_all()[name], f"{path.name} is stale: run `make schemas`"


def test_work_schema_carries_the_wire_rules() -> None:
    import json

    schema = json.loads(render_all()["work"])
    properties = schema["properties"]
    assert list(properties)[:3] == ["pipeline", "site", "user"]
    assert properties["priority"]["minimum"] == 1 and properties["priority"]["maximum"] == 5
    assert properties["pipeline"]["pattern"] == "^[A-Za-z0-9-]{1,128}$"
    assert set(schema["required"]) == {"pipeline", "site", "user"}
