"""Event ids: a per-process prefix and a counter (store/ids.py): unique, the old shape."""

from __future__ import annotations

import itertools
import os
import re
import threading

from modemd.store import ids

SHAPE = re.compile(r"evt_[0-9a-f]{24}")


def test_ids_keep_the_shape_of_twelve_random_bytes_and_never_repeat() -> None:
    made = [ids.new_event_id() for _ in range(2000)]
    assert all(SHAPE.fullmatch(event_id) for event_id in made)
    assert len(set(made)) == len(made)


def test_threads_share_no_id() -> None:
    made: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        into.extend(ids.new_event_id() for _ in range(5000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [event_id for into in made for event_id in into]
    assert len(set(every)) == len(every) == 20000


def test_a_new_prefix_when_the_counter_runs_out() -> None:
    source = ids._EventIds()
    first = source.next()
    past_the_limit = itertools.count(ids._COUNTER_LIMIT)
    source._state = (source._state[0], past_the_limit)
    after = source.next()
    assert after[:20] != first[:20] and after.endswith("00000000")


def test_a_forked_child_draws_its_own_prefix() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then out without running pytest's exit handlers
        os.write(write, ids.new_event_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert SHAPE.fullmatch(child) and child[:20] != ids.new_event_id()[:20]
