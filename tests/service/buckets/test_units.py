"""Pure pieces of Buckets: derived ids, public documents, and the new settings."""

from __future__ import annotations

from typing import Any

import pytest

from service.buckets.documents import assign_ids, public
from service.settings import Settings, SettingsError


def _document(**fields: Any) -> dict[str, Any]:
    return {"pipeline": "p", "id": None, "creation": 1.5, "parameters": {"b": 1, "a": 2}, **fields}


def test_derived_ids_are_stable_and_distinct() -> None:
    batch = [_document(), _document(), _document(creation=2.5), _document(id="given")]
    again = [_document(), _document(), _document(creation=2.5), _document(id="given")]
    assign_ids(batch)
    assign_ids(again)
    ids = [d["id"] for d in batch]
    assert ids == [d["id"] for d in again]
    assert len(set(ids)) == 4 and ids[3] == "given"
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids[:3])
    # Key order does not matter: the content is hashed in canonical form.
    reordered = [{"parameters": {"a": 2, "b": 1}, "creation": 1.5, "id": None, "pipeline": "p"}]
    assign_ids(reordered)
    assert reordered[0]["id"] == ids[0]


def test_public_strips_server_fields() -> None:
    assert public({"_id": 1, "id": "a", "_lease": {}, "status": "queued"}) == {
        "id": "a",
        "status": "queued",
    }


def test_buckets_settings() -> None:
    settings = Settings.from_env(
        {
            "SLUICE_REAPER_INTERVAL": "0.25",
            "SLUICE_TRANSFER_INTERVAL": "2",
            "SLUICE_TRANSFER_CUTOFF": "3600",
        }
    )
    assert (settings.reaper_interval, settings.transfer_interval) == (0.25, 2.0)
    assert settings.transfer_cutoff == 3600
    defaults = Settings()
    assert (defaults.reaper_interval, defaults.transfer_interval) == (5.0, 5.0)
    for bad in ({"SLUICE_REAPER_INTERVAL": "-1"}, {"SLUICE_TRANSFER_INTERVAL": "soon"}):
        with pytest.raises(SettingsError):
            Settings.from_env(bad)
