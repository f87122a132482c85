"""bench.backlog's ratio when every send takes its own time at the network (the spread
scenarios): the ideal is the sum of those times, each paired with its own Ctrl-Z at the pty.
The formula only, on hand-made stamps, in the benchmark's own process (nothing is timed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHECK = """
import asyncio, json
from bench.backlog import Window, largest_gap, summary
from bench.harness import LineTap
from modemd.emulators.modem_bank import EmulatedBank
from modemd.emulators.profile import AcceptedMessage, MessageFormat

one = Window(cmgs_at=[0.0, 2.03, 6.06], accepted_at=[2.02, 6.05, 9.0])
spread = summary([one], 3.0, 3, [[2.0, 4.0, 2.9]])
lockstep = summary([one], 2.5, 3)
tap = LineTap(EmulatedBank.create(1, seed=1).modems[0], asyncio.Event())
tap.submitted_at = [1.0, 5.0, 9.5]  # the last PDU was refused: no accept pairs with it
for at in (3.0, 8.0):
    tap.modem.accepted.append(AcceptedMessage(
        modem="m", imei="1", mr=0, to="+1", text="t", part=1, total=1,
        mode=MessageFormat.PDU, at=at,
    ))
# a 300 ms gap, ending at 4.5, holding a read and a free: other's first and only wait
other = Window(cmgs_at=[1.0, 4.5], accepted_at=[4.2, 5.5],
               command_heads=[(4.1, b"AT+CMGR="), (4.3, b"AT+CMGR="), (4.4, b"AT+CMGD="),
                              (4.49, b"AT+CMGS=")])
found = [largest_gap([one, other]), largest_gap([other, one]), largest_gap([])]
# other ran dry first (its last send ended at 5.5): late's wait from 6.0 on came after
late = Window(cmgs_at=[0.0, 2.0, 6.2], accepted_at=[1.0, 6.0, 7.0])
dry = largest_gap([late, other])
async def feed() -> None:  # a tap reads on the emulators' loop
    tap.modem.on_input(b"AT+CMGR=3\\r")
    tap.modem.on_input(b"0011000B91")  # a PDU's body: no command
asyncio.run(feed())
print(json.dumps({"spread": spread, "lockstep": lockstep, "network": tap.network_s(),
                  "found": found, "dry": dry, "heads": [h.decode() for _, h in tap.command_heads]}))
"""


def _run() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_ideal_is_each_sends_own_time_at_the_network() -> None:
    result = _run()
    spread, lockstep = result["spread"], result["lockstep"]
    assert isinstance(spread, dict) and isinstance(lockstep, dict)
    # the last send's end is past the span: the first two count, 2.0 + 4.0 s in 6.06 s
    assert spread["ratio"] == round(6.0 / 6.06, 4)
    assert spread["network_mean_s"] == 3.0
    # without the sends' own times every send took the nominal 2.5 s
    assert lockstep["ratio"] == round(2 * 2.5 / 6.06, 4)
    assert spread["gap_max_ms"] == lockstep["gap_max_ms"] == 10.0


def test_each_accept_pairs_with_the_last_ctrl_z_before_it() -> None:
    assert _run()["network"] == [2.0, 3.0]


def test_the_largest_gap_is_found_with_where_it_lay() -> None:
    result = _run()
    across, reversed_, none = result["found"]  # type: ignore[misc]
    assert across == reversed_  # other's 300 ms gap, not one's two of 10 ms
    assert across["ended_at"] == 4.5
    assert (across["wait"], across["waits"]) == (1, 1)
    assert across["commands"] == ["AT+CMGR=", "AT+CMGD="]  # inside it, not the send's own
    assert math.isnan(none["ended_at"]) and none["commands"] == []  # no gap at all
    dry = result["dry"]
    assert isinstance(dry, dict)
    # other's last send ended at 5.5: late's 1,000 ms wait from 1.0 on came before, its
    # 200 ms wait from 6.0 on after (the pool's line empty: the backlog's end)
    assert (dry["ms_before_dry"], dry["ms_after_dry"]) == (1000.0, 200.0)
    assert (dry["wait"], dry["waits"]) == (1, 2)


def test_a_tap_keeps_each_commands_head_and_no_pdu() -> None:
    assert _run()["heads"] == ["AT+CMGR="]
