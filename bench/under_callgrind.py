"""``python -m bench.under_callgrind serve ...``: ``modemd serve`` under valgrind's callgrind.

For ``bench.instructions``: the daemon runs under callgrind with its instrumentation off (the
imports and the devices' opening at a few times native speed), turned on when it says its API
listens and it has devices (``--device``; a daemon without them, the backlog's loader, is never
counted), each thread counted on its own. The counts go to ``$CALLGRIND_OUT/callgrind.out.<pid>``
(``-01``, ``-02`` ... per thread) at exit. SIGTERM and SIGINT are passed on to the daemon.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

OUT_ENV = "CALLGRIND_OUT"  # the directory the counts go to
LISTENING = b"API listening on"


def main() -> int:
    out = os.environ[OUT_ENV]
    counted = "--device" in sys.argv[1:]
    daemon = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}/callgrind.out.%p",
            sys.executable,
            "-m",
            "modemd",
            *sys.argv[1:],
        ],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def pass_on(signum: int, _frame: FrameType | None) -> None:
        daemon.send_signal(signum)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    assert daemon.stderr is not None
    for line in daemon.stderr:
        if counted and LISTENING in line:
            subprocess.run(
                ["callgrind_control", "-i", "on", str(daemon.pid)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            counted = False
        sys.stderr.buffer.write(line)
        sys.stderr.buffer.flush()
    return daemon.wait()


if __name__ == "__main__":
    sys.exit(main())
