"""Workfile storage over HTTP: upload, versions, listing, download, delete, bad input."""

from __future__ import annotations

import json

import httpx

from tests.service.workfiles.helpers import as_yaml, diamond


def upload(http: httpx.Client, workspace: str, name: str, content: bytes) -> httpx.Response:
    params = {"workspace": workspace, "file_name": name}
    return http.post("/workfiles", params=params, content=content)


def error_of(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    error: dict[str, object] = response.json()["error"]
    return error


def test_upload_versions_list_download_delete(
    wf: httpx.Client, workspace: str, pipeline: str
) -> None:
    content = as_yaml(diamond(pipeline))
    first = upload(wf, workspace, "diamond.yaml", content)
    assert first.status_code == 200, first.text
    info = first.json()
    assert info["version"] == 1 and info["file_type"] == "yaml"
    assert info["workflow_name"] == "diamond" and info["owner"] == "anonymous"
    assert info["workspace"] == workspace and info["size"] == len(content)
    as_json = json.dumps(diamond(pipeline, name="diamond-2")).encode()
    second = upload(wf, workspace, "diamond.yaml", as_yaml(diamond(pipeline, name="d2")))
    assert second.json()["id"] == info["id"] and second.json()["version"] == 2
    assert upload(wf, workspace, "other.json", as_json).json()["file_type"] == "json"

    assert wf.get(f"/workfiles/{info['id']}").json()["version"] == 2
    old = wf.get(f"/workfiles/{info['id']}/content", params={"version": 1})
    assert old.content == content and old.headers["content-type"] == "application/yaml"
    latest = wf.get(f"/workfiles/{info['id']}/content")
    assert b"name: d2" in latest.content
    error_of(wf.get(f"/workfiles/{info['id']}/content", params={"version": 9}), 404)

    page = wf.get("/workfiles", params={"workspace": workspace, "per_page": 1}).json()
    assert page["total"] == 2 and [w["file_name"] for w in page["workfiles"]] == ["diamond.yaml"]
    page2 = wf.get("/workfiles", params={"workspace": workspace, "per_page": 1, "page": 2})
    assert [w["file_name"] for w in page2.json()["workfiles"]] == ["other.json"]
    named = wf.get("/workfiles", params={"workspace": workspace, "file_name": "other.json"})
    assert named.json()["total"] == 1
    error_of(wf.get("/workfiles", params={"workspace": workspace, "per_page": 0}), 400)
    error_of(wf.get("/workfiles", params={"workspace": workspace, "page": "x"}), 400)

    assert wf.delete(f"/workfiles/{info['id']}").json() is True
    assert error_of(wf.get(f"/workfiles/{info['id']}"), 404)["code"] == "workfile_not_found"
    assert error_of(wf.delete(f"/workfiles/{info['id']}"), 404)["code"] == "workfile_not_found"
    error_of(wf.get(f"/workfiles/{info['id']}/content"), 404)


def test_invalid_workfiles_are_refused_naming_the_fault(
    wf: httpx.Client, workspace: str, pipeline: str
) -> None:
    cyclic = diamond(pipeline, start={"depends_on": ["total"]})
    cases = {
        "cycle": (cyclic, "start"),
        "undeclared": (diamond(pipeline, left={"parameters": {"a": "@nope"}}), "@nope"),
        "unknown dependency": (diamond(pipeline, left={"depends_on": ["ghost"]}), "ghost"),
        "not upstream": (diamond(pipeline, left={"parameters": {"a": "$right"}}), "right"),
        "no pipeline": ({**diamond(pipeline), "pipeline": None}, "start"),
    }
    for what, (workflow, name) in cases.items():
        error = error_of(upload(wf, workspace, f"{what}.yaml", as_yaml(workflow)), 422)
        assert error["code"] == "invalid_workfile", what
        assert error["details"]["name"] == name, what  # type: ignore[index]
        assert name in str(error["message"]), what
    twice = diamond(pipeline)
    twice["operators"].append(twice["operators"][0])
    assert "defined twice" in str(error_of(upload(wf, workspace, "t.yaml", as_yaml(twice)), 422))
    error = error_of(upload(wf, workspace, "bad.yaml", b"name: [unclosed"), 422)
    assert "not valid YAML" in str(error["message"])
    error_of(upload(wf, workspace, "bad.json", b"{nope"), 422)
    bomb = b"a: &a [x, x]\nb: &b [*a, *a]\n"
    assert "aliases" in str(error_of(upload(wf, workspace, "bomb.yaml", bomb), 422)["message"])
    nested: object = 1
    for _ in range(40):
        nested = [nested]
    deep = diamond(pipeline, start={"parameters": {"a": nested}})
    error = error_of(upload(wf, workspace, "deep.yaml", as_yaml(deep)), 422)
    assert "SLUICE_MAX_WORKFILE_DEPTH" in str(error["message"])
    deeper = b"name: x\noperators: " + b"[" * 5000 + b"]" * 5000
    error_of(upload(wf, workspace, "deeper.yaml", deeper), 422)
    error = error_of(upload(wf, workspace, "x.yaml", as_yaml({"name": "x", "operators": []})), 422)
    assert error["code"] == "validation_failed"
    error_of(upload(wf, "", "x.yaml", as_yaml(diamond(pipeline))), 400)
    error_of(upload(wf, workspace, "a/b.yaml", as_yaml(diamond(pipeline))), 400)
    assert wf.get("/workfiles", params={"workspace": workspace}).json()["total"] == 0


def test_upload_over_the_limit_is_refused_unread(wf: httpx.Client, workspace: str) -> None:
    big = b"#" * (50 * 1024 * 1024)
    error = error_of(upload(wf, workspace, "big.yaml", big), 413)
    assert "SLUICE_MAX_WORKFILE_BYTES" in str(error["message"])
    # Streamed without a length: refused once the limit is passed.
    chunks = iter([b"#" * (600 * 1024), b"#" * (600 * 1024)])
    error_of(upload(wf, workspace, "big.yaml", chunks), 413)  # type: ignore[arg-type]
    assert wf.get("/workfiles", params={"workspace": workspace}).json()["total"] == 0
