"""The JSON answer to a request whose handler failed, for aiohttp's framing (the
``errors_as_json`` middleware) and ``fastsend``'s alike."""

from __future__ import annotations

import logging
import math

from aiohttp import web

from modemd.api.answers import answer
from modemd.api.auth import Caller, RateLimitedError
from modemd.api.contract import (
    INTERNAL_ERROR,
    PAYLOAD_TOO_LARGE,
    RATE_LIMITED,
    STORE_ERROR,
    StatusCode,
)
from modemd.api.send import MAX_BODY_BYTES
from modemd.errors import StoreError

log = logging.getLogger("modemd.api.app")  # the lines the middleware has always written


def failure_answer(request: Caller, exc: Exception) -> web.Response:
    """The JSON answer to a request whose handler raised ``exc`` (aiohttp's framing and
    ``fastsend``'s alike), logged: an HTTP error, a rate limit, the store, or a bug."""
    if isinstance(exc, web.HTTPException):
        log.info(
            "%s %s from %s: HTTP %d %s",
            request.method,
            request.path,
            request.remote,
            exc.status,
            exc.reason,
        )
        if exc.status == PAYLOAD_TOO_LARGE.http:
            return answer(PAYLOAD_TOO_LARGE, f"the body is over {MAX_BODY_BYTES} bytes")
        allow = exc.headers.get("Allow")  # a 405 says which methods the route has
        return answer(
            exc.status,
            exc.reason,
            headers={"Allow": allow} if allow else None,
            status_code=str(StatusCode.PARAM_ERROR.value),
            status="param_error",
        )
    if isinstance(exc, RateLimitedError):
        log.info(
            "%s %s from %s: rate limited: %s", request.method, request.path, request.remote, exc
        )
        retry_after = str(max(1, math.ceil(exc.retry_after_s)))
        return answer(
            RATE_LIMITED, f"{exc}; retry in {retry_after} s", headers={"Retry-After": retry_after}
        )
    if isinstance(exc, StoreError):
        log.error("%s %s: store failed: %s", request.method, request.path, exc)
        return answer(STORE_ERROR, "the job store cannot write right now; nothing was accepted")
    # a bug: the caller still gets JSON, the sysadmin the traceback
    log.error(
        "%s %s from %s: internal error",
        request.method,
        request.path,
        request.remote,
        exc_info=exc,
    )
    return answer(INTERNAL_ERROR, "internal error (a bug in modemd): the log has the details")
