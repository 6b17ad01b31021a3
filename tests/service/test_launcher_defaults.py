"""The launcher's embedded-database defaults (`embedded_defaults`): claims serialised,
claim candidates batched and updates then reads, unless the operator set each one."""

from __future__ import annotations

import pytest

from service.__main__ import embedded_defaults
from service.settings import EMBEDDED_CLAIM_BATCH, Settings

#: What each setting becomes with the embedded database when its variable is unset.
EMBEDDED = {"serialize_claims": True, "claim_batch": EMBEDDED_CLAIM_BATCH, "update_then_read": True}


def launched(environ: dict[str, str]) -> Settings:
    """The settings `python -m service` serves with on the embedded database."""
    return embedded_defaults(Settings.from_env(environ), environ)


def test_each_is_on_with_the_embedded_database_by_default() -> None:
    settings = launched({})
    assert {name: getattr(settings, name) for name in EMBEDDED} == EMBEDDED
    # Without the embedded database, none of them is on.
    assert Settings.from_env({}).serialize_claims is False
    assert Settings.from_env({}).claim_batch == 0
    assert Settings.from_env({}).update_then_read is False


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("SLUICE_SERIALIZE_CLAIMS", "0", "serialize_claims", False),
        ("SLUICE_SERIALIZE_CLAIMS", "on", "serialize_claims", True),
        ("SLUICE_CLAIM_BATCH", "0", "claim_batch", 0),
        ("SLUICE_CLAIM_BATCH", "50", "claim_batch", 50),
        ("SLUICE_UPDATE_THEN_READ", "off", "update_then_read", False),
        ("SLUICE_UPDATE_THEN_READ", "1", "update_then_read", True),
    ],
)
def test_each_is_left_as_the_operator_set_it(
    variable: str, value: str, field: str, expected: object
) -> None:
    settings = launched({variable: value})
    assert getattr(settings, field) == expected
    # The other two still get their embedded defaults.
    others = {name: getattr(settings, name) for name in EMBEDDED if name != field}
    assert others == {name: v for name, v in EMBEDDED.items() if name != field}


def test_an_empty_variable_counts_as_unset() -> None:
    environ = {
        "SLUICE_CLAIM_BATCH": "",
        "SLUICE_UPDATE_THEN_READ": "",
        "SLUICE_SERIALIZE_CLAIMS": "",
    }
    settings = launched(environ)
    assert {name: getattr(settings, name) for name in EMBEDDED} == EMBEDDED


def test_the_rest_of_the_settings_is_kept() -> None:
    settings = launched({"SLUICE_PORT": "9001", "SLUICE_CLAIM_BATCH_SECONDS": "7"})
    assert settings.port == 9001 and settings.claim_batch_seconds == 7.0
    assert settings.mongodb_uri is None  # main() sets the embedded database's address
