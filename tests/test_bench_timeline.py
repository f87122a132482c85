"""bench.timeline's classes for the waits over 10 ms between two sends, on hand-made stamps
in the benchmark's own process (nothing is timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHECK = """
import json
from bench.timeline import Stalls, classify

class Waits:
    def __init__(self, *waits):
        self._waits = list(waits)
    def waits(self):
        return self._waits

taps = [
    Waits((0.0, 0.050, [("reaction", 0.005), ("read", 0.045)])),  # the read's round trip
    Waits((1.0, 1.030, [("reaction", 0.030)])),  # this process late 20 of its 30 ms
    Waits((2.0, 2.020, [("reaction", 0.020)])),  # nothing between, nobody else waiting
    Waits((3.0, 3.004, [("reaction", 0.004)])),  # under 10 ms: not classed
]
stalls = Stalls()
stalls.seen = [(1.025, 0.020), (5.0, 0.5)]
print(json.dumps(classify(taps, stalls)))
"""


def test_each_wait_over_10_ms_has_one_class() -> None:
    result = json.loads(_printed(CHECK))
    assert result["waits"] == 4 and result["over_10ms"] == 3
    assert result["over_10ms_with_a_read"] == 1
    classes = {name.split(" (")[0]: count for name, (count, _share) in result["classes"].items()}
    assert classes == {
        "read between": 1,
        "emulators' host late": 1,
        "the daemon's reaction, few waiting": 1,
    }
    shares = [share for _count, share in result["classes"].values()]
    assert abs(sum(shares) - 1.0) < 0.01  # 40 + 20 + 10 ms past 10 ms each


def _printed(code: str) -> str:
    """What ``code`` prints, run in a process of its own at the checkout's root."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_a_free_on_a_reads_line_is_a_read() -> None:
    """``AT+CMGD=1,1;+CMGR=7`` is one round trip, a read's: the wait it ends is the read's, and
    the report at 7 is read by it (the count of frees on such lines kept apart)."""
    printed = _printed(
        "from bench.timeline import _chained_free, _kind, last_command\n"
        "line = b'AT+CMGD=1,1;+CMGR=7'\n"
        "print(_kind(line), last_command(line).decode(), _chained_free(line),"
        " _kind(b'AT+CMGD=1,1'), _chained_free(b'AT+CMGD=1,1'))\n"
    )
    assert printed.split() == ["read", "AT+CMGR=7", "True", "free", "False"]
