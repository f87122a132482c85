"""The admin API's Unix socket: who may connect is the socket file's business (mode 0660, the
daemon's group: systemd's ``RuntimeDirectory``), and each peer is identified by its kernel
credentials (SO_PEERCRED) for the audit log. Requests on it reach the same application."""

from __future__ import annotations

import grp
import logging
import os
import pwd
import socket
import stat
import struct
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660  # owner and group: the CLI runs as the daemon's user or in its group
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, gid = _PEERCRED.unpack(raw)
    return pid, uid, gid


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "?"


def allowed(uid: int, gid: int, socket_gid: int) -> bool:
    """root, the daemon's own user, or a member of the socket's group (as the file mode says)."""
    if uid in (0, os.geteuid()) or gid == socket_gid:
        return True
    try:
        return _user(uid) in grp.getgrgid(socket_gid).gr_mem
    except KeyError:
        return False


def unix_peer(request: web.Request) -> str | None:
    """``"socket uid 1000 (alice) pid 42"`` for an allowed peer of the admin socket, else None
    (a TCP request, or a peer the socket's group does not include)."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    pid, uid, gid = peer_credentials(sock)
    path = sock.getsockname()
    try:
        socket_gid = os.stat(path).st_gid if path else os.getegid()
    except OSError:
        socket_gid = os.getegid()
    if not allowed(uid, gid, socket_gid):
        log.warning("admin socket: uid %d (%s) pid %d is not allowed", uid, _user(uid), pid)
        return None
    return f"socket uid {uid} ({_user(uid)}) pid {pid}"


def _prepare(where: Path) -> bool:
    """The directory is there and no stale socket of an earlier run is in the way."""
    if not where.parent.is_dir():
        log.info("admin socket %s not served: %s does not exist", where, where.parent)
        return False
    if where.exists() and stat.S_ISSOCK(where.stat().st_mode):
        where.unlink()  # left by a daemon that did not stop cleanly
    return True


async def start_admin_socket(runner: web.AppRunner, path: str) -> web.UnixSite | None:
    """Serve the app on ``path`` (mode 0660) when its directory exists; None otherwise (a
    development run without /run/modemd: the admin API then needs the admin token)."""
    if not _prepare(Path(path)):
        return None
    site = web.UnixSite(runner, path)
    old = os.umask(0o117)  # the socket is born 0660: no window where others may connect
    try:
        await site.start()
    finally:
        os.umask(old)
    os.chmod(path, SOCKET_MODE)
    log.info("admin API on unix:%s (mode 0660)", path)
    return site
