"""A umockdev testbed driven over a Unix socket, for tests that run in another process.

Run with Debian's own Python (it has the UMockdev GObject bindings) under umockdev-wrapper:

    umockdev-wrapper /usr/bin/python3 testbed_server.py SOCKET

It prints the testbed's root directory on stdout, then answers one JSON request per line on
SOCKET. A process with libumockdev-preload loaded and UMOCKDEV_DIR set to that directory sees
the testbed's devices as real (pyudev included) and gets their uevents. Requests:

    {"op": "add", "text": "<umockdev device description>"}  -> {"ok": true}
    {"op": "fd", "devnode": "/dev/ttyUSB2"}  -> {"ok": true} + the pty master (SCM_RIGHTS)
    {"op": "remove", "syspath": "/sys/devices/...", "hangup": true}  -> {"ok": true}: the ptys
        of its nodes and its children's hung up (unless "hangup" is false), then "remove"
        uevents, deepest first (as on an unplug)
    {"op": "uevent", "syspath": "...", "action": "add"}  -> {"ok": true}
    {"op": "watch_reset", "devnode": "/dev/bus/usb/001/004"}  -> {"ok": true}: from now on the
        USBDEVFS_RESET ioctl on that node succeeds and is counted (umockdev forwards ioctls on
        a node to a handler attached to it; any other ioctl there fails as unhandled)
    {"op": "resets", "devnode": "..."}  -> {"ok": true, "resets": <count>}

It stops when stdin closes. Not a modemd module: it runs outside the project's venv.
"""

import json
import os
import socket
import sys
import threading

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import GLib, UMockdev  # noqa: E402

USBDEVFS_RESET = 0x5514  # _IO('U', 20), <linux/usbdevice_fs.h>
RESETS = {}  # devnode -> USBDEVFS_RESET ioctls received
HANDLERS = []  # kept alive while attached


def watch_reset(testbed, devnode):
    """Answer USBDEVFS_RESET on ``devnode`` as the kernel would (0), counting each."""
    RESETS.setdefault(devnode, 0)

    def handle(_handler, client):
        if client.get_request() != USBDEVFS_RESET:
            return False
        RESETS[devnode] += 1
        client.complete(0, 0)
        return True

    handler = UMockdev.IoctlBase()
    handler.connect("handle-ioctl", handle)
    testbed.attach_ioctl(devnode, handler)
    HANDLERS.append(handler)


def devices_under(testbed, syspath):
    """(syspath, device node or None) of the testbed's devices at or below ``syspath``,
    deepest first (the order the kernel removes them in)."""
    root = testbed.get_root_dir()
    found = []
    for path, _dirs, files in os.walk(root + syspath):
        if "uevent" not in files:
            continue
        node = None
        with open(os.path.join(path, "uevent")) as uevent:
            for line in uevent:
                if line.startswith("DEVNAME="):
                    name = line.strip().split("=", 1)[1]
                    node = name if name.startswith("/dev/") else "/dev/" + name
        found.append((path[len(root) :], node))
    return sorted(found, key=lambda item: -item[0].count("/"))


def forget_nodes(testbed, nodes):
    """Drop what umockdev 0.17 leaves of removed tty nodes: the node's link to its pty and the
    pty's map entry. Else the next device given the freed pty number cannot be added (a modem
    replugged after a USB reset)."""
    dev = testbed.get_root_dir() + "/dev"
    for node in nodes:
        path = testbed.get_root_dir() + node
        if not os.path.islink(path):
            continue
        target = os.readlink(path)
        os.unlink(path)
        if target.startswith("/dev/pts/"):
            mapped = os.path.join(dev, ".ptymap", target.replace("/", "_"))
            if os.path.lexists(mapped):
                os.unlink(mapped)
        name = os.path.join(dev, ".node", node[len("/dev/") :].replace("/", "_"))
        if os.path.lexists(name):
            os.unlink(name)


def serve(testbed, conn, devnull):
    reader = conn.makefile("r")
    for line in reader:
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "add":
                testbed.add_from_string(request["text"])
            elif op == "uevent":
                testbed.uevent(request["syspath"], request["action"])
            elif op == "remove":
                devices = devices_under(testbed, request["syspath"])
                masters = [testbed.get_dev_fd(node) for _, node in devices if node]
                for fd in masters if request.get("hangup", True) else []:
                    if fd >= 0:  # hang up: the testbed's master fd now points at /dev/null
                        os.dup2(devnull, fd)
                for path, _node in devices:  # umockdev < 0.18.4 sends no "remove" itself
                    testbed.uevent(path, "remove")
                testbed.remove_device(request["syspath"])
                forget_nodes(testbed, [node for _, node in devices if node])
            elif op == "watch_reset":
                watch_reset(testbed, request["devnode"])
            elif op == "resets":
                count = RESETS.get(request["devnode"], 0)
                conn.sendall(json.dumps({"ok": True, "resets": count}).encode() + b"\n")
                continue
            elif op == "fd":
                fd = testbed.get_dev_fd(request["devnode"])
                reply = json.dumps({"ok": fd >= 0}).encode() + b"\n"
                socket.send_fds(conn, [reply], [fd] if fd >= 0 else [])
                continue
            else:
                raise ValueError(f"unknown op {op!r}")
            conn.sendall(json.dumps({"ok": True}).encode() + b"\n")
        except Exception as exc:  # the test reads the error; the server goes on
            conn.sendall(json.dumps({"ok": False, "error": repr(exc)}).encode() + b"\n")


def main():
    path = sys.argv[1]
    testbed = UMockdev.Testbed.new()
    devnull = os.open("/dev/null", os.O_RDWR)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    print(testbed.get_root_dir(), flush=True)

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(testbed, conn, devnull), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    # Ioctl handlers are served from GLib's default main context.
    threading.Thread(target=GLib.MainLoop().run, daemon=True).start()
    sys.stdin.read()  # until the test closes our stdin
    listener.close()


if __name__ == "__main__":
    main()
