"""Route-walk cases of the Alpine surface."""

from __future__ import annotations

from typing import Any

from tests.service.auth.pipeline_cases.cases import (
    SHARED_WORKSPACES,
    Case,
    a_only,
    call,
    forbidden,
    hidden,
    public,
    shared,
)
from tests.service.auth.pipeline_world import World


def _no_alpine_workfiles(world: World, body: Any) -> bool:
    return bool(body["response"] == [])


_ENGINE = "/alpinedatalabs/api/v1/json"
_ALPINE_WORKFILE = lambda w: f"/alpine/api/workfiles/{w.workfile}"  # noqa: E731
_ALPINE_SPACE = lambda w: f"/alpine/api/workspaces/{w.workspace_id}"  # noqa: E731


def _alpine_upload(world: World) -> bytes:
    return (
        b"--walk\r\n"
        b'Content-Disposition: form-data; name="workfile[versions_attributes][0][contents]"; '
        b'filename="walk.json"\r\nContent-Type: application/json\r\n\r\n'
        + a_only(world)
        + b"\r\n--walk--\r\n"
    )


CASES: dict[tuple[str, str], Case] = {
    # Alpine: sessions are public; workspaces are shared; workfiles and runs are not
    ("POST", "/alpine/api/sessions"): public(),
    ("GET", "/alpine/api/sessions"): public(),
    ("DELETE", "/alpine/api/sessions"): public(),
    ("GET", "/alpine/api/VERSION"): public(),
    ("GET", "/alpine/api/workspaces"): shared(SHARED_WORKSPACES, call("/alpine/api/workspaces")),
    ("POST", "/alpine/api/workspaces"): shared(
        SHARED_WORKSPACES, call("/alpine/api/workspaces", data={"name": "walk-space"})
    ),
    ("GET", "/alpine/api/workspaces/{workspace_id}"): shared(
        SHARED_WORKSPACES, call(_ALPINE_SPACE)
    ),
    ("DELETE", "/alpine/api/workspaces/{workspace_id}"): shared(
        SHARED_WORKSPACES + "; one holding workfiles is never deleted", call(_ALPINE_SPACE)
    ),
    ("POST", "/alpine/api/workspaces/{workspace_id}/workfiles"): forbidden(
        call(
            lambda w: f"/alpine/api/workspaces/{w.workspace_id}/workfiles",
            content=_alpine_upload,
            headers={"Content-Type": "multipart/form-data; boundary=walk"},
        ),
    ),
    ("GET", "/alpine/api/workspaces/{workspace_id}/workfiles"): hidden(
        _no_alpine_workfiles, call(lambda w: f"/alpine/api/workspaces/{w.workspace_id}/workfiles")
    ),
    ("GET", "/alpine/api/workfiles/{workfile_id}"): forbidden(call(_ALPINE_WORKFILE)),
    ("DELETE", "/alpine/api/workfiles/{workfile_id}"): forbidden(call(_ALPINE_WORKFILE)),
    ("GET", "/alpine/api/workfiles/{workfile_id}/download"): forbidden(
        call(lambda w: f"/alpine/api/workfiles/{w.workfile}/download")
    ),
    ("POST", _ENGINE + "/workflows/{workflow_id}/run"): forbidden(
        call(lambda w: f"{_ENGINE}/workflows/{w.workfile}/run", json={})
    ),
    ("GET", _ENGINE + "/processes/{process_id}/query"): forbidden(
        call(lambda w: f"{_ENGINE}/processes/{w.process}/query")
    ),
    ("POST", _ENGINE + "/processes/{process_id}/stop"): forbidden(
        call(lambda w: f"{_ENGINE}/processes/{w.process}/stop")
    ),
    ("GET", _ENGINE + "/workflows/{workflow_id}/results/{process_id}"): forbidden(
        call(lambda w: f"{_ENGINE}/workflows/{w.workfile}/results/{w.process}")
    ),
}
