"""Schemathesis against a running Sluice's own /openapi.json, with auth on and a token.

Every operation is fuzzed with schema-valid (positive) and schema-breaking (negative)
requests; no answer may be a 5xx, use an undocumented status or content type, or break
its documented schema. Scale with FUZZ_EXAMPLES (cases per operation and mode: 5 in
`make test`, 200 in `make fuzz`) and FUZZ_SEED (0 by default, so `make test` is
reproducible; `make fuzz` picks a fresh one and failures name it).
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.testing import SluiceProcess

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("FUZZ_SEED", "0"))
#: The issue's floor for one run, whatever FUZZ_EXAMPLES says.
MIN_CASES = 1000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
TOKEN = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def fuzz_server(
    sluice_env: dict[str, str],
    module_mongo_uri: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SluiceProcess]:
    """A Sluice with auth required and a bootstrap admin token, on a database of its own
    (fuzzed DELETEs and audits touch nothing another test sees) on a server of the
    module's own (thousands of writes)."""
    env = {
        **sluice_env,
        "MONGODB_URI": module_mongo_uri,
        "SLUICE_DB_NAME": f"sluice_fuzz_{uuid.uuid4().hex[:8]}",
        "SLUICE_AUTH": "required",
        "SLUICE_ADMIN_TOKEN": TOKEN,
        # Negative cases send bad tokens by the thousand from one address: the limit on
        # failed authentications would refuse the valid ones after them (429).
        "SLUICE_AUTH_FAILURE_RATE": "0",
    }
    log = tmp_path_factory.mktemp("fuzz") / "sluice.log"
    with SluiceProcess(env, log_path=log) as server:
        yield server


def _config() -> schemathesis.Config:
    """Send the admin token through both security schemes the document declares."""
    return schemathesis.Config.from_dict(
        {"auth": {"openapi": {"accessToken": {"api_key": TOKEN}, "bearerToken": {"bearer": TOKEN}}}}
    )


Statuses = Counter[tuple[str, GenerationMode, int]]


def _fuzz(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    session: requests.Session,
    seen: Statuses,
) -> None:
    """Send up to EXAMPLES generated requests; raise on the first failed check."""

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report and go on
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case[Any]) -> None:
        response = case.call(session=session, timeout=30)
        seen[operation.label, mode, response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    run()


def test_no_5xx_and_every_answer_matches_the_contract(fuzz_server: SluiceProcess) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json", config=_config())
    session = requests.Session()
    seen: Statuses = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the document describes an operation badly
            failures.append(f"invalid operation: {result.err()}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, session, seen)
            except Unsatisfiable:
                continue  # nothing to break: no parameters and no body (negative mode)
            # FailureGroup (several failed checks) is a BaseExceptionGroup, not an Exception.
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}"[:3000])

    cases = sum(seen.values())
    print(f"fuzz: {cases} cases, {len(failures)} failing operation/mode pairs")
    for (label, mode, status), count in sorted(seen.items()):
        print(f"  {label:60} {mode.value:8} {status} x{count}")
    if failures:
        assert fuzz_server.log_path is not None
        log = fuzz_server.log_path.read_text()[-20000:]
        report = "\n\n".join(failures)
        pytest.fail(f"{len(failures)} failing (FUZZ_SEED={SEED}):\n\n{report}\n\nlog:\n{log}")
    assert cases >= MIN_CASES, f"only {cases} cases generated; raise FUZZ_EXAMPLES"
    # The token must have been accepted: schema-valid requests mostly get past the guard.
    positive = [(s, n) for (_, mode, s), n in seen.items() if mode is GenerationMode.POSITIVE]
    refused = sum(n for status, n in positive if status in (401, 403, 429))
    assert refused < sum(n for _, n in positive) / 10, f"{refused} positive cases refused"
