"""Safe defaults: tokens required unless turned off, never off on a public address by
accident; `make run` on loopback defaults to off, loudly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.__main__ import local_auth_default
from service.settings import Settings, SettingsError


def test_auth_is_required_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.auth == "required" and settings.admin_token is None
    assert settings.rate_limit == 0 and settings.max_audit_results >= 1


def test_the_admin_secret_never_shows_in_repr() -> None:
    secret = "s3cret-bootstrap-value"
    assert secret not in repr(Settings.from_env({"SLUICE_ADMIN_TOKEN": secret}))


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "sluice.example.org", "::"])
def test_auth_off_on_a_public_address_is_refused(host: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SLUICE_AUTH": "off", "SLUICE_HOST": host})
    assert "SLUICE_ALLOW_INSECURE=1" in str(caught.value)
    allowed = Settings.from_env(
        {"SLUICE_AUTH": "off", "SLUICE_HOST": host, "SLUICE_ALLOW_INSECURE": "1"}
    )
    assert allowed.auth == "off"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_auth_off_on_loopback_is_allowed(host: str) -> None:
    assert Settings.from_env({"SLUICE_AUTH": "off", "SLUICE_HOST": host}).auth == "off"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SLUICE_AUTH", "maybe", "SLUICE_AUTH must be 'required' or 'off'"),
        ("SLUICE_ADMIN_TOKEN", "short", "SLUICE_ADMIN_TOKEN must be at least 16"),
        ("SLUICE_RATE_LIMIT", "-1", "SLUICE_RATE_LIMIT must not be negative"),
        ("SLUICE_RATE_BURST", "0", "SLUICE_RATE_BURST must be at least 1"),
        ("SLUICE_MAX_AUDIT_RESULTS", "0", "SLUICE_MAX_AUDIT_RESULTS must be at least 1"),
    ],
)
def test_bad_auth_settings_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert message in str(caught.value)


def test_make_run_defaults_to_off_on_loopback_only() -> None:
    local = Settings.from_env({})
    assert local_auth_default(local, {}).auth == "off"
    assert local_auth_default(local, {"SLUICE_AUTH": "required"}).auth == "required"
    public = Settings.from_env({"SLUICE_HOST": "0.0.0.0"})
    assert local_auth_default(public, {}).auth == "required"


def test_the_launcher_refuses_auth_off_on_a_public_address() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        env={"SLUICE_AUTH": "off", "SLUICE_HOST": "0.0.0.0", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SLUICE_AUTH=off on SLUICE_HOST='0.0.0.0'" in result.stderr
