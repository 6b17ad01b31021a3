"""`sluice token create|ls|revoke`, `sluice audit` and the SDK against an auth-on Sluice."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from service.testing import SluiceProcess
from sluice import Admin, Forbidden, Results, Unauthorized
from sluice.cli.main import main
from tests.service.auth.helpers import ADMIN_SECRET, create_token
from tests.service.factories import work


def sluice(url: str, token: str, *args: str) -> tuple[int, str, str]:
    outcome = CliRunner().invoke(main, ["--url", url, "--token", token, *args])
    return outcome.exit_code, outcome.stdout, outcome.stderr


def test_token_lifecycle_from_the_cli(secure: SluiceProcess, pipeline: str) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    code, out, err = sluice(secure.url, ADMIN_SECRET, "token", "create", name,
                            "--scope", "read", "--scope", "deposit", "--pipeline", "t-*",
                            "--owner", "bob", "--expires-days", "2")  # fmt: skip
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("slc_") and "only time" in err
    with Results(secure.url, secret) as results:
        assert results.deposit([work(pipeline)]) == {pipeline: True}
        with pytest.raises(Forbidden):
            results.delete_ids(pipeline, ["x"])
    code, out, _ = sluice(secure.url, ADMIN_SECRET, "token", "ls")
    assert code == 0 and name in out and "bob" in out and secret not in out
    code, out, _ = sluice(secure.url, ADMIN_SECRET, "token", "ls", "--json")
    listed = {t["name"]: t for t in json.loads(out)}
    assert listed[name]["pipelines"] == ["t-*"] and listed[name]["expires"] is not None
    code, out, _ = sluice(secure.url, ADMIN_SECRET, "token", "revoke", name)
    assert code == 0 and "revoked" in out
    with Results(secure.url, secret) as results, pytest.raises(Unauthorized):
        results.status()
    code, out, _ = sluice(secure.url, ADMIN_SECRET, "audit", "--action", "token.revoke",
                          "--limit", "5", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)[0]["target"] == name
    code, out, _ = sluice(secure.url, ADMIN_SECRET, "audit", "--limit", "5")
    assert code == 0 and "token.revoke" in out


def test_cli_errors_are_one_line(secure: SluiceProcess) -> None:
    reader = create_token(secure.url, ["read"])
    code, _, err = sluice(secure.url, reader, "token", "ls")
    assert code == 1 and "HTTP 403 forbidden" in err
    code, _, err = sluice(secure.url, ADMIN_SECRET, "token", "revoke", "no-such-token")
    assert code == 1 and "HTTP 404" in err
    code, _, err = sluice(secure.url, ADMIN_SECRET, "token", "create", "x", "--scope", "root")
    assert code == 2


def test_sdk(secure: SluiceProcess) -> None:
    with Admin(secure.url, ADMIN_SECRET) as admin:
        created = admin.create_token(f"sdk-{uuid.uuid4().hex[:6]}", ["work"], ["frb-*"])
        assert created["token"].startswith("slc_") and created["owner"] == "deploy"
        assert any(t["name"] == created["name"] for t in admin.tokens())
        assert admin.revoke_token(created["name"])["revoked"] is not None
        entries = admin.audit(action="token.revoke", limit=1)
        assert entries[0]["target"] == created["name"]
