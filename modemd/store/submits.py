"""Which claimed jobs may have reached their modem: the submit log, a file beside the database.

A job in ``sending`` left by a crash was claimed in a durable commit; whether its PDU and
Ctrl-Z went out is what decides between "back in the queue" and ``unknown``. That needs a
record written *before* those bytes, and one more fsync per send is what issue 21 cuts. So the
log is written without fsync, and trusted only where that is enough:

- ``claim <job_id>`` before the commit that claims a job, ``submit <job_id>`` just before the
  driver writes the bytes that submit it (the modem's PDU + Ctrl-Z; a phone: its request).
  Each is one ``write()`` on an ``O_APPEND`` descriptor: microseconds, no disk wait.
- A ``write()`` that returned is in the kernel's page cache: it survives the process (kill -9,
  a crash, the OOM killer), not the kernel (power loss, panic). The header names the boot
  (``/proc/sys/kernel/random/boot_id``): after a reboot the log is not trusted at all and every
  job left ``sending`` is ``unknown``, as before this log existed.
- At start-up, a job left ``sending`` goes back to the queue only when the last run's log
  (same boot, complete lines) has its ``claim`` line and no ``submit`` line: claimed by that
  run, never written to the modem. Anything else (no log, another boot, a torn last line, a
  job claimed by another process) stays ``unknown``: never sent twice.
- A clean stop removes the log (nothing is left ``sending``). The log keeps the lines of jobs
  still open and is rewritten (temp file + rename: atomic for a reader after a crash) when it
  passes ``COMPACT_AT_BYTES``.
- Only a database of one host (SQLite): on a shared PostgreSQL another host's claims are not in
  this log. The run that writes the log holds it locked (``flock``): a log locked by a live
  process (a second modemd on the same file) is not trusted either.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from pathlib import Path

from modemd.store.location import is_postgres

log = logging.getLogger(__name__)

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")  # Linux: changes at every boot
HEADER = "modemd-submits 1"  # format and version; the boot id follows
COMPACT_AT_BYTES = 1 << 20  # rewrite the log with its open lines only past this size
FILE_MODE = 0o600  # job ids only, but beside a private database


def boot_id() -> str | None:
    """This boot's id, or None where the kernel does not say (the log is then off)."""
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


class SubmitLog:
    """The submit log of one database; ``path`` None: off (every interrupted job is unknown)."""

    def __init__(self, path: Path | None, boot: str | None = None) -> None:
        self.boot = boot if boot is not None else boot_id()
        self.path = path if self.boot is not None else None
        self._fd: int | None = None
        self._open: dict[str, bool] = {}  # job id -> submitted, until its outcome is stored
        # A write failed and the file could not be made untrusted: it may still say "claimed,
        # never written" of a job about to be written, so no job may be submitted any more.
        self._stuck = False
        self._size = 0

    @classmethod
    def beside(cls, database: str) -> SubmitLog:
        """The log of a SQLite file (``<file>-submits``); off for PostgreSQL (shared)."""
        shared = is_postgres(database) or database == ":memory:"
        return cls(None if shared else Path(f"{database}-submits"))

    def never_written(self) -> set[str] | None:
        """Jobs the last run claimed and never wrote to a device, from its log; None when the
        log cannot be trusted (none, another boot, a torn line): then every one is unknown."""
        if self.path is None:
            return None
        try:
            with self.path.open("rb") as file:
                # The run that writes a log holds it locked until it ends (or dies): a lock
                # taken elsewhere is a live modemd on this database, whose claims are its own.
                fcntl.flock(file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                text = file.read().decode("ascii")
        except BlockingIOError:
            log.warning("%s: in use by a live process (another modemd?): not trusted", self.path)
            return None
        except (OSError, UnicodeDecodeError):
            return None
        lines = text.split("\n")
        if lines[0] != f"{HEADER} {self.boot}" or lines[-1] != "":
            return None  # another boot (lines may be lost), or a torn last write
        claimed: set[str] = set()
        submitted: set[str] = set()
        for line in lines[1:-1]:
            what, _, job_id = line.partition(" ")
            if what == "claim":
                claimed.add(job_id)
            elif what == "submit":
                submitted.add(job_id)
            else:
                return None
        return claimed - submitted

    def start(self) -> None:
        """Begin this run's log (after the last run's jobs were judged and committed)."""
        if self.path is None:
            return
        try:
            self._rewrite()
        except OSError as exc:  # the last run's file must go: it knows nothing of this run
            self._off(f"cannot be started: {exc}")
            self.path = None

    def claim(self, job_id: str) -> None:
        """``job_id`` is about to be claimed (call before the claim's commit)."""
        self._open.setdefault(job_id, False)
        self._append(f"claim {job_id}\n")

    def submit(self, job_id: str) -> bool:
        """The bytes that submit ``job_id`` are about to be written (call just before); False:
        they must not be, the log could neither say so nor be made untrusted (see ``_off``)."""
        if self._open.get(job_id):
            return True  # the next part of a long message: said once
        self._open[job_id] = True
        self._append(f"submit {job_id}\n")
        return not self._stuck

    def submitted(self, job_id: str) -> bool:
        """Whether ``job_id`` may have reached its device (True when the log is off)."""
        return self._fd is None or self._open.get(job_id, True)

    def settled(self, job_id: str) -> None:
        """``job_id``'s outcome is committed: its lines may go at the next rewrite."""
        self._open.pop(job_id, None)
        if self._size > COMPACT_AT_BYTES and self.path is not None:
            try:
                self._rewrite()
            except OSError as exc:  # the old file stays, whole; try again 1 MiB later
                log.warning("%s: cannot compact the submit log: %s", self.path, exc)
                self._size = 0

    def close(self) -> None:
        """A clean stop: nothing is left ``sending``, the log goes."""
        if self._fd is None or self.path is None:
            return
        os.close(self._fd)
        self._fd = None
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _append(self, line: str) -> None:
        if self._fd is None:
            return
        data = line.encode("ascii")
        try:
            if os.write(self._fd, data) != len(data):  # a short write: the disk is full
                raise OSError(errno.ENOSPC, "short write")
        except OSError as exc:
            self._off(f"write failed: {exc}")
            return
        self._size += len(data)

    def _off(self, why: str) -> None:
        """A write failed: the file may now miss a line, so it must never be trusted. Removed
        (needs no free space); else its header spoilt in place; else sends stop (``_stuck``).
        From here on the log is off: a crash leaves every interrupted job unknown."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self.path is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError as unlink_error:
            try:
                fd = os.open(self.path, os.O_WRONLY)
                try:
                    os.pwrite(fd, b"X", 0)  # "Xodemd-submits": never_written() refuses it
                finally:
                    os.close(fd)
            except OSError as spoil_error:
                log.error(
                    "%s: submit log %s, and it can be neither removed (%s) nor spoilt (%s): "
                    "no SMS is submitted until modemd restarts",
                    self.path,
                    why,
                    unlink_error,
                    spoil_error,
                )
                self._stuck = True
                self.path = None
                return
        log.warning("%s: submit log %s: it is off (a crash leaves jobs unknown)", self.path, why)
        self.path = None  # nothing more is written this run (a rewrite would trust it again)

    def _rewrite(self) -> None:
        """Write the header and the open jobs' lines to a new file and put it in place."""
        assert self.path is not None
        lines = [f"{HEADER} {self.boot}\n"]
        for job_id, submitted in self._open.items():
            lines.append(f"claim {job_id}\n")
            if submitted:
                lines.append(f"submit {job_id}\n")
        data = "".join(lines).encode("ascii")
        tmp = self.path.with_name(self.path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, FILE_MODE)
        try:  # the old file stays in place (and in use) unless the whole new one is written
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until this run ends or dies
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write")
            os.replace(tmp, self.path)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._size = fd, len(data)
