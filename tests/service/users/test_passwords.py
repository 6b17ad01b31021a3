"""Passwords and their resets against a running Sluice: what a reset ends (every
session, however it races with logins, and every other reset id), and passwords that
cannot be told apart from others (a NUL)."""

from __future__ import annotations

import threading
import time
import uuid

import httpx

from service.testing import SluiceStarter
from tests.service.auth.helpers import ADMIN_SECRET, token_header
from tests.service.users.conftest import login, make_user

FS = "/flowserv/api/v1"


def username() -> str:
    return f"pw-{uuid.uuid4().hex[:10]}"


def reset_id(admin: httpx.Client, name: str) -> str:
    answer = admin.post(f"{FS}/users/password/request", json={"username": name})
    assert answer.status_code == 200, answer.text
    found: str = answer.json()["requestId"]
    return found


def reset(anon: httpx.Client, request_id: str, password: str) -> httpx.Response:
    return anon.post(f"{FS}/users/password/reset", json={"requestId": request_id,
                                                        "password": password})  # fmt: skip


def test_no_session_opened_with_the_old_password_outlives_a_reset(
    users_env: dict[str, str], start_sluice: SluiceStarter
) -> None:
    # Logins check the password for milliseconds: one that read the user before the
    # reset opened its session after the reset had ended every session there was.
    # (A Sluice of its own, without the failure limit: the logins after the reset fail.)
    server = start_sluice("password-race", **{**users_env, "SLUICE_AUTH_FAILURE_RATE": "0"})
    with (
        httpx.Client(base_url=server.url, timeout=30) as anon,
        httpx.Client(base_url=server.url, headers=token_header(ADMIN_SECRET), timeout=30) as admin,
    ):
        race(admin, anon)


def race(admin: httpx.Client, anon: httpx.Client) -> None:
    name = username()
    make_user(admin, name, ["read"])
    request_id = reset_id(admin, name)
    stop = threading.Event()
    opened: list[str] = []

    def keep_logging_in() -> None:
        with httpx.Client(base_url=anon.base_url, timeout=30) as client:
            while not stop.is_set():
                answer = login(client, name)
                if answer.status_code == 201:
                    opened.append(answer.json()["response"]["session_id"])

    threads = [threading.Thread(target=keep_logging_in) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert reset(anon, request_id, "new password").status_code == 200
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join()
    assert opened, "no login went through before the reset"
    live = [s for s in opened if anon.get("/results/status", headers=token_header(s)).is_success]
    assert live == []
    assert login(anon, name, "new password").status_code == 201


def test_a_reset_ends_every_other_reset_id_and_a_deleted_users_is_a_400(
    admin: httpx.Client, anon: httpx.Client
) -> None:
    name = username()
    make_user(admin, name, ["read"])
    older, newer = reset_id(admin, name), reset_id(admin, name)
    assert reset(anon, newer, "new password").status_code == 200
    again = reset(anon, older, "leaked id pw")
    assert again.status_code == 400 and again.json()["error"]["details"] == {"reason": "reset"}
    assert login(anon, name, "new password").status_code == 201
    gone = username()
    make_user(admin, gone, ["read"])
    orphan = reset_id(admin, gone)
    assert admin.delete(f"/admin/users/{gone}").status_code == 200
    assert reset(anon, orphan, "any password").status_code == 400


def test_a_password_holds_no_nul(admin: httpx.Client, anon: httpx.Client) -> None:
    # scrypt pads a key with NULs: "pw" and "pw\0" were the same password.
    name = username()
    make_user(admin, name, ["read"])
    assert login(anon, name, "correct horse\x00").status_code == 401
    refused = admin.post("/admin/users", json={"username": username(), "password": "\x00" * 10,
                                               "scopes": ["read"]})  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert reset(anon, reset_id(admin, name), "new\x00password").status_code == 400
