"""CORS: preflights and response headers only for the key's origins; never '*', never
credentials."""

from __future__ import annotations

import pytest
from api_harness import Api

from modemd.api.cors import origin_allowed

PATTERNS = ("https://app.example.com", "*.shop.example", "plain.example")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("HTTPS://APP.EXAMPLE.COM", True),
        ("http://app.example.com", False),  # an exact origin includes its scheme
        ("https://app.example.com:8443", False),
        ("https://eu.shop.example", True),
        ("https://shop.example", False),  # '*.' means subdomains only
        ("https://evilshop.example", False),
        ("http://plain.example:3000", True),
        ("https://plain.example.evil.com", False),
        ("null", False),
        ("https://app.example.com/", False),
    ],
)
def test_origin_matching(origin: str, allowed: bool) -> None:
    assert origin_allowed(origin, PATTERNS) is allowed


async def preflight(api: Api, origin: str, query: str = "") -> tuple[int, dict]:
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    async with api.session.options(f"{api.url}/api/v1/send{query}", headers=headers) as r:
        return r.status, dict(r.headers)


async def test_preflight_from_a_listed_origin(api: Api) -> None:
    status, headers = await preflight(api, "https://app.example.com")
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Credentials" not in headers
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "Origin" in headers["Vary"]


async def test_preflight_from_an_unlisted_origin(api: Api) -> None:
    before = await api.dump()
    status, headers = await preflight(api, "https://evil.example")
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    # narrowed by ?apikey=: an origin of another key does not count
    status, headers = await preflight(api, "https://app.example.com", f"?apikey={api.keys['any']}")
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    assert await api.dump() == before


async def test_response_headers_only_for_the_callers_key(api: Api) -> None:
    origin = {"Origin": "https://app.example.com"}
    async with api.session.post(f"{api.url}/api/v1/send", json=api.ok("web"), headers=origin) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "Access-Control-Allow-Credentials" not in r.headers
    async with api.session.post(
        f"{api.url}/api/v1/send", json=api.ok("any"), headers=origin
    ) as r:  # a key without that origin: the browser will not show the answer
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
    async with api.session.post(
        f"{api.url}/api/v1/send", json=api.ok("web"), headers={"Origin": "https://evil.example"}
    ) as r:
        assert "Access-Control-Allow-Origin" not in r.headers
    async with api.session.options(
        f"{api.url}/admin/v1/keys",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
    ) as r:  # the admin API is never CORS-enabled
        assert "Access-Control-Allow-Origin" not in r.headers
