"""Settings are read once from the environment and fail loudly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.port == 8000 and settings.host == "127.0.0.1"
    assert settings.max_view_results == 10_000
    assert settings.mongodb_uri is None
    assert settings.write_concern_value == "majority"


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "MONGODB_URI": "mongodb://db:27017/?replicaSet=rs0",
            "SLUICE_PORT": "9000",
            "SLUICE_MAX_BODY_BYTES": "1_000_000",
            "SLUICE_SERIALIZE_CLAIMS": "yes",
            "SLUICE_WRITE_CONCERN": "2",
            "SLUICE_LOG_LEVEL": "DEBUG",
        }
    )
    assert settings.mongodb_uri == "mongodb://db:27017/?replicaSet=rs0"
    assert settings.port == 9000 and settings.max_body_bytes == 1_000_000
    assert settings.serialize_claims is True
    assert settings.write_concern_value == 2
    assert settings.log_level == "debug"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SLUICE_PORT", "eighty", "SLUICE_PORT='eighty': expected a whole number"),
        ("SLUICE_PORT", "70000", "SLUICE_PORT must be a TCP port"),
        ("SLUICE_MAX_BATCH", "0", "SLUICE_MAX_BATCH must be at least 1"),
        ("SLUICE_SERIALIZE_CLAIMS", "maybe", "SLUICE_SERIALIZE_CLAIMS='maybe'"),
        ("SLUICE_DB_NAME", "a.b", "SLUICE_DB_NAME='a.b' is not a valid database name"),
        ("SLUICE_WRITE_CONCERN", "all", "SLUICE_WRITE_CONCERN"),
        ("SLUICE_LOG_LEVEL", "loud", "SLUICE_LOG_LEVEL"),
        ("SLUICE_ALPINE_PREFIX", "alpine", "SLUICE_ALPINE_PREFIX='alpine' must be empty or"),
        ("SLUICE_ALPINE_PREFIX", "/alpine/", "SLUICE_ALPINE_PREFIX='/alpine/' must be"),
        ("SLUICE_SESSION_TTL", "0", "SLUICE_SESSION_TTL must be more than 0"),
        ("SLUICE_CLAIM_BATCH", "-1", "SLUICE_CLAIM_BATCH must not be negative"),
        ("SLUICE_CLAIM_BATCH_SECONDS", "-1", "SLUICE_CLAIM_BATCH_SECONDS must not be negative"),
        ("SLUICE_AERO_MIN_TIMER", "0", "SLUICE_AERO_MIN_TIMER must be at least 1"),
        ("SLUICE_LEADERBOARD_INTERVAL", "-1", "SLUICE_LEADERBOARD_INTERVAL must not be negative"),
        ("SLUICE_FLOWSERV_URL", "ftp://x", "SLUICE_FLOWSERV_URL='ftp://x' must be an http(s)"),
        ("SLUICE_AERO_RUN_RETRIES", "6", "SLUICE_AERO_RUN_RETRIES must be at most 5"),
        ("SLUICE_AERO_MAX_TIMER", "3600", "SLUICE_AERO_DEFAULT_TIMER must be within"),
        ("SLUICE_AERO_MAX_TIMER", "9999999999", "SLUICE_AERO_MAX_TIMER must be at most"),
    ],
)
def test_invalid_values_fail_naming_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert message in str(caught.value)


def test_the_launcher_refuses_to_start_on_bad_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        env={"SLUICE_MAX_BATCH": "-3", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "configuration error: SLUICE_MAX_BATCH must be at least 1" in result.stderr
