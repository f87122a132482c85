"""The garbage collector's settings at start-up (``modemd.serving``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from modemd.serving import freeze_opened_devices


@pytest.fixture
def collections() -> Iterator[list[tuple[str, int]]]:
    """Every collection that starts meanwhile, as (phase, generation); the heap unfrozen after."""
    seen: list[tuple[str, int]] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        seen.append((phase, info["generation"]))

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)
        gc.unfreeze()


def test_the_freeze_at_ready_moves_what_opening_made_without_a_collection(
    collections: list[tuple[str, int]],
) -> None:
    before = gc.get_freeze_count()
    opened = [{"device": n} for n in range(1_000)]  # what opening the devices made
    collections.clear()  # the youngest generation's passes while they were made
    freeze_opened_devices()
    assert collections == []  # no pass: the first sends of a backlog would wait for it
    assert gc.get_freeze_count() >= before + len(opened)
