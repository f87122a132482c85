"""``write(2)`` without letting go of the GIL, for writes that must follow one another at once.

``os.write`` releases the GIL around the system call. For a few bytes to a non-blocking tty or
to an ``O_APPEND`` file (the page cache) the call takes microseconds, but while the GIL is let
go another thread (the store's writer, running Python) takes it, and this thread gets it back
only when that one blocks or after the interpreter's switch interval (5 ms). Between the submit
log's line and the PDU's write (``store.submits``, ``drivers.at_port``) that wait is the window
in which a kill -9 leaves a job ``unknown`` although nothing reached the modem: with both
writes holding the GIL, the window between them has no hand-over to another thread (a 3 ms
busy thread beside them: p99 of the two writes 20-28 ms with ``os.write``, 2.4-3.7 ms held).

Only for descriptors that do not block: a full tty buffer answers ``BlockingIOError``.
"""

from __future__ import annotations

import ctypes
import errno
import os

_LIBC = ctypes.PyDLL(None, use_errno=True)  # PyDLL: the GIL stays held during each call
_WRITE = _LIBC.write
_WRITE.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
_WRITE.restype = ctypes.c_ssize_t


def write_held(fd: int, data: bytes) -> int:
    """``os.write(fd, data)`` with the GIL held: the count written, or the ``OSError`` that
    ``os.write`` would raise (``BlockingIOError`` when a non-blocking descriptor is full)."""
    while True:
        written: int = _WRITE(fd, data, len(data))
        if written >= 0:
            return written
        code = ctypes.get_errno()
        if code != errno.EINTR:  # retried, as os.write does (PEP 475)
            raise OSError(code, os.strerror(code))
