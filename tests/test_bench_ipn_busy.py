"""bench.ipn_busy's count of busy reports whose read waited for another command (a free in
the send's trail), on hand-made stamps in the benchmark's own process (nothing is timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHECK = """
import json
from bench.ipn_busy import commands_before_read

class Line:
    commands = [
        (0.5, b"AT+CMGS=20"),
        (1.01, b"AT+CMGD=1,1"),  # the trail's free, then its read
        (1.02, b"AT+CMGR=6"),
        (1.03, b"AT+CMGS=20"),
        (2.01, b"AT+CMGL=0"),  # the read first
        (2.02, b"AT+CMGD=1,1"),
        (2.03, b"AT+CMGS=20"),
        (3.01, b"AT+CMGS=20"),  # no read at all after this end
    ]

print(json.dumps([commands_before_read(Line(), end) for end in (1.0, 2.0, 3.0)]))
"""


def test_what_went_before_a_busy_reports_read_is_listed() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == [["AT+CMGD="], [], []]
