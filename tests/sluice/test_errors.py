"""Responses become the right exception: live errors from the service, and the mapping
itself for statuses the service cannot be made to answer on demand."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.testing import free_port
from sluice import (
    APIError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ProtocolError,
    Results,
    ServerError,
    SluiceError,
    TransportError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from sluice.core.plan import decode
from sluice.errors import error_from_response
from tests.service.factories import work


def response(status: int, **body: Any) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "http://sluice/results/x"), **body)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, PayloadTooLarge),
        (422, ValidationFailed),
        (500, ServerError),
        (503, Unavailable),
        (418, APIError),
    ],
)
def test_status_maps_to_its_class(status: int, kind: type[APIError]) -> None:
    error = error_from_response(response(status, json=error_body("some_code", "said", {"k": 1})))
    assert type(error) is kind
    assert (error.status_code, error.code, error.message, error.details) == (
        status,
        "some_code",
        "said",
        {"k": 1},
    )
    assert str(error) == f"said (HTTP {status} some_code)"


def test_unavailable_is_a_server_error_and_everything_is_a_sluice_error() -> None:
    assert issubclass(Unavailable, ServerError)
    for kind in (TransportError, ProtocolError, APIError):
        assert issubclass(kind, SluiceError)


def test_error_without_json_body_uses_the_status_line() -> None:
    error = error_from_response(response(502, text="<html>bad gateway</html>"))
    assert type(error) is ServerError
    assert error.code == "http_502"
    assert "502 Bad Gateway" in error.message


def test_success_that_is_not_json_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="not JSON"):
        decode(response(200, text="<html>hello</html>"))


def test_live_invalid_query_is_bad_request(results: Results, pipeline: str) -> None:
    with pytest.raises(BadRequest) as caught:
        results.view(pipeline, {"$where": "sleep(1000)"})
    assert caught.value.code == "invalid_query"
    assert "$where" in caught.value.message


def test_live_oversized_batch_is_payload_too_large(results: Results, pipeline: str) -> None:
    # The test server keeps the default SLUICE_MAX_BATCH of 1000; the batch is refused
    # before anything is written.
    with pytest.raises(PayloadTooLarge):
        results.deposit([{"pipeline": pipeline}] * 1001)


def test_live_invalid_document_is_validation_failed(results: Results, pipeline: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        results.deposit([work(pipeline, site=None)])
    assert caught.value.details["errors"][0]["loc"] == ["site"]


def test_live_unknown_route_is_not_found(base_url: str) -> None:
    with Results(f"{base_url}/nowhere") as client, pytest.raises(NotFound):
        client.status()


def test_unreachable_server_is_a_transport_error() -> None:
    with (
        Results(f"http://127.0.0.1:{free_port()}", timeout=2) as client,
        pytest.raises(TransportError, match="cannot reach"),
    ):
        client.status()


def test_package_exports_resolve_lazily() -> None:
    import sluice

    assert sorted(sluice.__all__) == sorted(sluice._MODULE_OF)
    for name in sluice.__all__:
        assert getattr(sluice, name) is not None
