"""``heldwrite.write_held``: what ``os.write`` does, on real descriptors."""

from __future__ import annotations

import errno
import os

import pytest

from modemd.heldwrite import write_held


def test_writes_to_a_pty_what_the_other_side_reads() -> None:
    master, slave = os.openpty()
    try:
        assert write_held(slave, b"AT+CMGS=23\r") == 11
        assert os.read(master, 100) == b"AT+CMGS=23\r"
    finally:
        os.close(master)
        os.close(slave)


def test_a_full_non_blocking_pipe_raises_blocking_io_error_after_a_short_write() -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        chunk = b"x" * 65536
        total = 0
        with pytest.raises(BlockingIOError):
            while True:
                total += write_held(write_end, chunk)
        assert total > 0
        assert len(os.read(read_end, total)) > 0
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_closed_descriptor_raises_os_error_with_its_errno() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError) as raised:
        write_held(write_end, b"x")
    assert raised.value.errno == errno.EBADF


def test_an_append_file_gets_the_lines_in_order(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "log")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for n in range(3):
            assert write_held(fd, f"submit job_{n}\n".encode()) == len(f"submit job_{n}\n")
    finally:
        os.close(fd)
    with open(path, encoding="ascii") as file:
        assert file.read() == "submit job_0\nsubmit job_1\nsubmit job_2\n"
