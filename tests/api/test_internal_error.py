"""A bug in a handler still answers JSON (``internal_error``, HTTP 500) and leaves the
traceback in the log: aiohttp's own answer would be the plain text "Server got itself in
trouble" (what CI once saw from ``/simulator/v1/mo``), which no client of the contract parses."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from modemd.api.app import errors_as_json
from modemd.api.contract import INTERNAL_ERROR


async def test_an_unexpected_exception_answers_json_500_and_logs_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(_request: web.Request) -> web.Response:
        raise FileNotFoundError("a.sim.tmp")  # what two emulators sharing a SIM file raised

    app = web.Application(middlewares=[errors_as_json])
    app.router.add_post("/broken", broken)
    with caplog.at_level(logging.ERROR, logger="modemd.api"):
        async with (
            TestServer(app) as server,
            aiohttp.ClientSession() as session,
            session.post(server.make_url("/broken"), json={}) as r,
        ):
            assert r.status == 500
            assert r.content_type == "application/json"
            body = await r.json()
    assert body["response"] == "500"
    assert body["status"] == INTERNAL_ERROR.status == "internal_error"
    assert body["status_code"] == ""
    assert "a.sim.tmp" not in body["message"]  # the details are for the log, not the caller
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "POST /broken" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is FileNotFoundError
