"""bench.ipn_busy's count of busy reports whose read waited for another command (a free in
the send's trail), and its cut of a read at the modem's final result, on hand-made stamps in
the benchmark's own process (nothing is timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHECK = """
import json
from bench.ipn_busy import commands_before_read, read_answer

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
    finals = [1.015, 1.0225, 2.0125, 2.025]  # the free's OK, the read's, ...


before = [commands_before_read(Line(), end) for end in (1.0, 2.0, 3.0)]
answers = [read_answer(Line(), end, end + 0.5) for end in (1.0, 2.0, 3.0)]
cut = [a and [round(a[0], 4), round(a[1], 4), a[2]] for a in answers]

from types import SimpleNamespace
from bench.timeline import TimelineTap

modem = SimpleNamespace(on_input=None, on_output=None)
tap = TimelineTap(SimpleNamespace(modem=modem))
modem.on_output(b"\\r\\n+CMGR: 0,,25\\r\\n07911326040000F0\\r\\n\\r\\nOK\\r\\n")
modem.on_output(b"\\r\\n+CMS ERROR: 321\\r\\n")
modem.on_output(b'\\r\\n+CDSI: "SM",3\\r\\n\\r\\nOK')  # an OK whose line has not ended
print(json.dumps([before, cut, len(tap.finals), len(tap.announced)]))
"""


def test_what_went_before_a_busy_reports_read_is_listed_and_its_read_cut_at_its_answer() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, check=True
    )
    before, answers, finals, announced = json.loads(done.stdout)
    assert (finals, announced) == (2, 1)  # OK and +CMS ERROR: final results; +CDSI is not
    assert before == [["AT+CMGD="], [], []]
    # the read -> its OK (the modem), that OK -> the host's next command (the daemon)
    assert answers == [[0.0025, 0.0075, "AT+CMGS="], [0.0025, 0.0075, "AT+CMGD="], None]
