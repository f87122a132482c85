"""CORS: a browser page may call the API only from the origins its key lists. The allowed
origin is echoed (never ``*``) and credentials are never allowed (the key travels in the
request, not in cookies)."""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from modemd.api.answers import answer
from modemd.api.auth import CALLER_KEY, KEYS, STORE
from modemd.store import keys as key_rows

log = logging.getLogger(__name__)

PREFLIGHT_MAX_AGE_S = 600  # browsers cache an allowed preflight this long
API_PREFIX = "/api/"  # the admin API is never callable from a browser page
_ORIGIN = re.compile(r"^(https?)://([a-z0-9.-]+)(:[0-9]{1,5})?$")


def origin_allowed(origin: str, patterns: tuple[str, ...] | set[str]) -> bool:
    """Does ``origin`` (scheme://host[:port]) match an exact origin, a domain or ``*.domain``?"""
    match = _ORIGIN.match(origin.lower())
    if match is None:  # 'null' (sandboxed pages, files), or garbage
        return False
    host = match.group(2)
    for pattern in patterns:
        if "://" in pattern:
            if pattern == origin.lower():
                return True
        elif pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


async def _preflight(request: web.Request, origin: str) -> web.Response:
    """Answer an OPTIONS preflight: the key in ``?apikey=`` narrows it, else any live key."""
    store = request.app[STORE]
    secret = request.query.get("apikey", "")
    key = await request.app[KEYS].find(secret) if secret else None
    allowed = key.cors_origins if key else await store.read(key_rows.live_cors_origins)
    if not origin_allowed(origin, allowed):
        log.info("CORS preflight %s from origin %.100r refused", request.path, origin)
        return answer(
            403, "origin not allowed", headers={"Vary": "Origin"}, status="cors_origin_refused"
        )
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
            "Vary": "Origin",
        },
    )


@web.middleware
async def cors_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """Preflights answered here; other answers get CORS headers for the caller key's origins."""
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith(API_PREFIX):
        return await handler(request)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return await _preflight(request, origin)
    response = await handler(request)
    key = request.get(CALLER_KEY)
    if key is not None and origin_allowed(origin, key.cors_origins):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.headers["Vary"] = "Origin"
    return response
