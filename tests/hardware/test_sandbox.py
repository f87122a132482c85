"""The daemon's view of the system under the unit's sandbox (ProcSubset=pid), as far as a test
can build it: a private mount and pid namespace with /proc mounted ``subset=pid``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from modemd.hardware.net import read_routes

PROBE = (
    "import json, os; from modemd.hardware.net import read_routes; "
    "print(json.dumps({'proc_net': os.path.exists('/proc/net/route'), "
    "'routes': [[r.interface, r.destination, r.gateway, r.flags] for r in read_routes()]}))"
)


def under_proc_subset_pid(code: str) -> dict[str, object]:
    namespace = ["unshare", "--mount", "--pid", "--fork"]
    if os.geteuid() != 0:
        namespace.insert(1, "--map-root-user")
    script = f'mount -t proc -o subset=pid proc /proc && exec "{sys.executable}" -c "{code}"'
    done = subprocess.run(
        [*namespace, "sh", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_routes_are_read_where_proc_net_is_hidden() -> None:
    outside = [[r.interface, r.destination, r.gateway, r.flags] for r in read_routes()]
    assert outside, "this machine has no IPv4 route at all"
    inside = under_proc_subset_pid(PROBE)
    assert inside["proc_net"] is False  # what ProcSubset=pid does to /proc/net/route
    assert inside["routes"] == outside
