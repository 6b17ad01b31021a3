"""Reading the Alpine client's multipart bodies and paging numbers."""

from __future__ import annotations

import httpx
import pytest

from service.alpine.forms import MAX_FIELDS, parse_multipart, whole_number
from service.errors import BadRequest


def encoded(files: dict[str, tuple[str, bytes]], data: dict[str, str]) -> bytes:
    """A multipart body exactly as requests/httpx write one."""
    request = httpx.Request("POST", "http://x/", files=files, data=data)
    return request.read()


def test_parts_are_read_from_the_body_alone() -> None:
    content = b"name: x\r\n--not-a-boundary\r\n\r\n"
    body = encoded({"workfile[versions_attributes][0][contents]": ("d.yaml", content)},
                   {"workfile[entity_subtype]": "alpine"})  # fmt: skip
    parts = {part.name: part for part in parse_multipart(body)}
    assert parts["workfile[entity_subtype]"].content == b"alpine"
    assert parts["workfile[entity_subtype]"].filename is None
    upload = parts["workfile[versions_attributes][0][contents]"]
    assert upload.filename == "d.yaml" and upload.content == content


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not a form",
        b"--b\r\ncontent-disposition: form-data; name=a\r\n\r\nno closing boundary",
        b"--b\r\nno blank line after the headers\r\n--b--\r\n",
        b"--b\r\n\r\nx\r\n--bgarbage\r\n\r\ny\r\n--b--",
        b"--" + b"b" * 71 + b"\r\n\r\nx\r\n--" + b"b" * 71 + b"--",
        b"--b\r\n" + b"\r\nx\r\n--b\r\n" * (MAX_FIELDS + 1) + b"\r\nx\r\n--b--",
    ],
)
def test_anything_else_is_a_400(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_multipart(body)


def test_paging_numbers() -> None:
    assert whole_number(None, "page", 1) == 1
    assert whole_number("", "page", 1) == 1
    assert whole_number("7", "page", 1) == 7
    assert whole_number(7, "page", 1) == 7
    for bad in (True, -1, 1.5, "x", "\uff11", [1], 2**63, "9" * 19):
        with pytest.raises(BadRequest):
            whole_number(bad, "page", 1)
