"""Issue 18 item 3: fuzz /send with the input classes that once answered 500: lone surrogates in
any field (JSON ``\\ud800``), multipart bodies with odd or missing boundaries and truncated
parts, and deep nesting. Every answer is JSON with ``response`` equal to a documented status."""

from __future__ import annotations

import json
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api_docs.live import PIN, Daemon

SEND = "/api/v1/send"
DOCUMENTED = {200, 400, 401, 402, 403, 404, 409, 413, 422, 429, 503}
EXAMPLES = 60  # each test; the classes matter more than the count
FIELDS = ("apikey", "pin", "to", "msg", "id_device", "idempotency_key")
# Any code point, surrogates included (hypothesis leaves them out by default).
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def answered(response: requests.Response) -> dict[str, Any]:
    assert response.status_code in DOCUMENTED, (response.status_code, response.text[:300])
    body = response.json()
    assert body["response"] == str(response.status_code), body
    return dict(body)


def valid(daemon: Daemon) -> dict[str, str]:
    return {"apikey": daemon.keys["any"], "pin": PIN, "to": "+393331234567", "msg": "hi"}


def test_any_field_with_any_code_point(daemon: Daemon) -> None:
    @SETTINGS
    @given(field=st.sampled_from(FIELDS), value=ANY_TEXT)
    def check(field: str, value: str) -> None:
        raw = json.dumps({**valid(daemon), field: value})  # ASCII: a surrogate is \udXXX
        response = requests.post(
            daemon.url + SEND,
            data=raw.encode(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        answered(response)

    check()


BOUNDARY = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=72)


def test_multipart_edge_cases(daemon: Daemon) -> None:
    @SETTINGS
    @given(
        declared=st.one_of(st.none(), BOUNDARY),
        used=BOUNDARY,
        cut=st.integers(min_value=0, max_value=400),
        quote=st.booleans(),
    )
    def check(declared: str | None, used: str, cut: int, quote: bool) -> None:
        parts = b"".join(
            f'--{used}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in valid(daemon).items()
        )
        body = (parts + f"--{used}--\r\n".encode())[: cut or None]
        header = "multipart/form-data"
        if declared is not None:
            header += f'; boundary="{declared}"' if quote else f"; boundary={declared}"
        response = requests.post(
            daemon.url + SEND, data=body, headers={"Content-Type": header}, timeout=30
        )
        answered(response)

    check()


def test_deep_nesting(daemon: Daemon) -> None:
    for depth in (100, 10_000, 100_000):
        nested = "[" * depth + "]" * depth
        for raw in (nested, json.dumps(valid(daemon))[:-1] + f', "msg": {nested}}}'):
            response = requests.post(
                daemon.url + SEND,
                data=raw.encode(),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            assert answered(response)["response"] in ("400", "413")
