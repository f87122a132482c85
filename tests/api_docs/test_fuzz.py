"""Property-based fuzz of the live daemon from api/openapi.yaml (schemathesis + hypothesis):
valid and invalid requests to every documented route; no 5xx, no answer off the contract."""

from __future__ import annotations

from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_docs.live import PIN, Daemon

EXAMPLES_PER_OPERATION = 40  # per generation mode; ~3 min at load 5 on 2 cores (hypothesis)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# /readyz?pin=<a pool without devices> answers its documented 503 "not ready": not a server error.
NOT_READY_IS_AN_ANSWER = {"/readyz"}
SKIPPED_PREFIXES = ("/admin/",)  # operator routes: fuzzing them would revoke the test's keys


def _with_credentials(case: Any, key: str) -> None:
    """Most cases carry the real key and pin, so the fuzz reaches past authentication."""
    if "authorization" not in {h.lower() for h in case.headers or {}}:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
    if isinstance(case.body, dict):
        if isinstance(case.body.get("apikey"), str) and len(case.body["apikey"]) % 4:
            case.body["apikey"] = key  # a quarter keep their generated (wrong) key
        if isinstance(case.body.get("pin"), str) and len(case.body["pin"]) % 4:
            case.body["pin"] = PIN


def test_fuzz_finds_no_5xx_and_no_contract_violation(daemon: Daemon, spec: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_dict(spec)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if not result.ok().path.startswith(SKIPPED_PREFIXES)
    ]
    calls: dict[str, int] = {}
    with requests.Session() as session:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=EXAMPLES_PER_OPERATION,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck),
                )
                def fuzz(case: Any) -> None:
                    _with_credentials(case, daemon.keys["local"])
                    response = case.call(base_url=daemon.url, session=session, timeout=10)
                    calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
                    ready_probe = case.operation.path in NOT_READY_IS_AN_ANSWER
                    case.validate_response(response, checks=CHECKS[ready_probe:])

                try:
                    fuzz()
                except Unsatisfiable:  # nothing to make invalid (a route without inputs)
                    assert mode is GenerationMode.NEGATIVE, operation.label
    total = sum(calls.values())
    print(f"\nfuzz: {total} requests over {len(calls)} operations: {calls}")
    assert len(calls) == len(operations) and total >= len(operations) * 10
