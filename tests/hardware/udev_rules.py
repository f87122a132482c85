"""Evaluate udev rules the way udev does: ``udevadm test`` on a umockdev sysfs, with the rules
in a private /run (a mount namespace: nothing of the host's udev changes)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

PROPERTY = re.compile(r"^([A-Z_][A-Z0-9_.]*)=(.*)$")
RULES_NAME = "70-modemd.rules"


def evaluate(tmp: Path, devices: str, rules: str, syspath: str) -> dict[str, str]:
    """The properties udev gives ``syspath`` (/sys/...) of the umockdev ``devices`` with
    ``rules`` installed in /run/udev/rules.d beside the system's own."""
    (tmp / "devices.umockdev").write_text(devices)
    (tmp / RULES_NAME).write_text(rules)
    script = (
        "set -e; mount -t tmpfs modemd-test /run; mkdir -p /run/udev/rules.d; "
        f'cp "{tmp / RULES_NAME}" /run/udev/rules.d/; '
        f'exec umockdev-run -d "{tmp / "devices.umockdev"}" -- udevadm test "{syspath}"'
    )
    namespace = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "-r", "--mount"]
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "UMOCKDEV_DIR")}
    done = subprocess.run(
        [*namespace, "sh", "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr + done.stdout
    ours = [line for line in done.stderr.splitlines() if f"{RULES_NAME}:" in line]
    refused = [
        line
        for line in ours
        if re.search(r"Invalid|ignoring|error", line, re.I)
        and "Unknown group 'modemd'" not in line  # the installer creates it; CI may not have it
    ]
    assert not refused, "udev refused part of the rules:\n" + "\n".join(refused)
    # udevadm test ends with the device's properties, one KEY=value per line.
    tail = done.stdout.rsplit("\n\n", 1)[-1]
    found = dict(m.groups() for line in tail.splitlines() if (m := PROPERTY.match(line)))
    found.update(applied(ours))
    return found


def applied(log: list[str]) -> dict[str, str]:
    """GROUP and MODE that our rules applied (udevadm logs them, they are not properties)."""
    out = {}
    for line in log:
        if m := re.search(r"\.rules:\d+ (GROUP|MODE) (\S+)$", line):
            out[f"({m[1]})"] = m[2]
    return out
