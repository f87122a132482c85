"""Property-based fuzz of the live daemon from api/openapi.yaml (schemathesis + hypothesis):
valid and invalid requests to every documented route; no 5xx, no answer off the contract.

One test per operation (each documented method and path but the operator's), each with its own
timeout: the fuzz is CPU-bound in hypothesis' generation (~60 s of this process's CPU for 57
operations at 40 examples per mode, spread evenly: 1-3 s each at load 2), so on a loaded machine
one test of them all ran past pytest-timeout's 900 s inside a full suite; now an operation that
hangs fails alone, named. 20 examples per mode: half the work, every operation still fuzzed in
both modes."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
import yaml
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

from api_docs.live import PIN, SPEC_FILE, Daemon

EXAMPLES_PER_OPERATION = 20  # per generation mode; the whole file ~45 s at load 2 on 2 cores
OPERATION_TIMEOUT_S = 300  # one operation, both modes: ~1-3 s at load 2 (100 times that)
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
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Each operation a test, listed from the contract when the tests are collected (C's YAML
# loader: ~0.05 s, against ~0.65 s for the pure-Python one).
OPERATIONS = [
    f"{method.upper()} {path}"
    for path, item in yaml.load(SPEC_FILE.read_text("utf-8"), Loader=yaml.CSafeLoader)[
        "paths"
    ].items()
    if not path.startswith(SKIPPED_PREFIXES)
    for method in item
    if method in METHODS
]


@pytest.fixture(scope="module")
def schema(spec: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(spec)


@pytest.fixture(scope="module")
def session() -> Any:
    with requests.Session() as kept:
        yield kept


def _with_credentials(case: Any, key: str) -> None:
    """Most cases carry the real key and pin, so the fuzz reaches past authentication."""
    if "authorization" not in {h.lower() for h in case.headers or {}}:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
    if isinstance(case.body, dict):
        if isinstance(case.body.get("apikey"), str) and len(case.body["apikey"]) % 4:
            case.body["apikey"] = key  # a quarter keep their generated (wrong) key
        if isinstance(case.body.get("pin"), str) and len(case.body["pin"]) % 4:
            case.body["pin"] = PIN


def test_every_documented_operation_is_fuzzed(schema: Any) -> None:
    documented = [
        result.ok().label
        for result in schema.get_all_operations()
        if not result.ok().path.startswith(SKIPPED_PREFIXES)
    ]
    assert sorted(documented) == sorted(OPERATIONS) and len(OPERATIONS) > 40


@pytest.mark.timeout(OPERATION_TIMEOUT_S)
@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz_finds_no_5xx_and_no_contract_violation(
    daemon: Daemon, schema: Any, session: Any, label: str
) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    calls = 0
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
            nonlocal calls
            _with_credentials(case, daemon.keys["local"])
            response = case.call(base_url=daemon.url, session=session, timeout=10)
            calls += 1
            ready_probe = case.operation.path in NOT_READY_IS_AN_ANSWER
            case.validate_response(response, checks=CHECKS[ready_probe:])

        try:
            fuzz()
        except Unsatisfiable:  # nothing to make invalid (a route without inputs)
            assert mode is GenerationMode.NEGATIVE, label
    assert calls, label  # (a route without inputs has one request to make, sent once)
