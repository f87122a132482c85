"""With a stall trace on, each send answered in the fast framing leaves an ``accept`` span:
parsed, its task's first step, its write queued, its task resumed, its answer written, in that
order, and its job's id (``bench.accept_tail`` cuts an accept's time with them); a refused send
has neither a job nor a write. With no trace, none is kept (nothing to keep them in)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_harness import Api, MakeApi

from modemd.observe import trace


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[trace.Recorder]:
    begun = trace.begin(str(tmp_path / "trace.json"))
    assert begun is not None
    try:
        yield begun
    finally:
        trace.begin(None)  # record no more (nothing written: the test reads the spans)


def _accepts(recorder: trace.Recorder) -> list[Any]:
    return [span for span in recorder.spans if span[0] == "accept"]


async def test_each_send_leaves_its_pieces_in_order(
    recorder: trace.Recorder, make_api: MakeApi
) -> None:
    api: Api = await make_api()
    status, accepted = await api.send(json=api.ok("any"))
    assert status == 200
    status, refused = await api.send(json={**api.ok("any"), "apikey": "mdk_wrong0000000000"})
    assert status == 401 and refused["status_code"] == "3"
    (first, second) = _accepts(recorder)
    _, _, parsed, written, (job_id, began, queued, resumed) = first
    assert job_id == accepted["job_id"]
    assert parsed <= began <= queued <= resumed <= written
    _, _, parsed, written, (job_id, began, queued, resumed) = second
    assert job_id is None and queued is None and parsed <= began <= resumed <= written


async def test_without_a_trace_nothing_is_stamped(make_api: MakeApi) -> None:
    assert trace.recorder() is None
    api: Api = await make_api()
    status, _ = await api.send(json=api.ok("any"))
    assert status == 200
    assert trace.recorder() is None
