"""Who holds a TCP port: for "port in use" errors (Linux /proc; None when it cannot be told)."""

from __future__ import annotations

import os
from pathlib import Path

LISTEN = "0A"  # st column of /proc/net/tcp: TCP_LISTEN


def port_holder(port: int, proc: Path = Path("/proc")) -> str | None:
    """``pid 1234 (modemd serve ...)`` of a process listening on ``port``, if this user may see
    it; ``another user's process`` when the socket is there but its owner is hidden."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "self" / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == LISTEN
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir(proc)):
        try:
            fds = os.listdir(proc / pid / "fd")
            if any(os.readlink(proc / pid / "fd" / fd) in inodes for fd in fds):
                cmdline = (proc / pid / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                return f"pid {pid} ({cmdline.decode(errors='replace')[:80]})"
        except OSError:
            continue
    return "another user's process"
