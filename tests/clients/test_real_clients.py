"""Independent AT clients, unchanged, against ``modemd emulate``: Debian's gammu (identify,
sendsms), smstools' smsd and python-gsmmodem-new's GsmModem. What the emulated network
accepted is read back from the emulator's record file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gsmmodem.modem import GsmModem

from modemd.emulators.profile import SendRecorder

START_TIMEOUT_S = 30.0
CLIENT_TIMEOUT_S = 90.0  # gammu and smsd answer in about a second; generous under load
POLL_S = 0.1


@dataclass
class Emulator:
    port: str
    imei: str
    record: Path
    proc: subprocess.Popen[str]

    def network(self, command: str) -> str:
        """A command to the emulated network on the emulator's stdin; its one-line answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def accepted(self) -> list[tuple[str, str]]:
        return [(m.to, m.text) for m in SendRecorder.read(self.record)]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """One emulated modem served by a ``modemd emulate`` subprocess."""
    record = tmp_path / "network.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "modemd", "emulate", "--count", "1", "--record", str(record)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        _name, port, imei = proc.stdout.readline().split()  # "emu0 /dev/pts/N IMEI"
        yield Emulator(port, imei, record, proc)
    finally:
        proc.terminate()
        proc.wait(START_TIMEOUT_S)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_S)


def gammu(tmp_path: Path, port: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "gammurc"
    config.write_text(f"[gammu]\nport = {port}\nconnection = at\n")
    return subprocess.run(
        ["gammu", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
    )


def test_gammu_identifies_the_modem(emulator: Emulator, tmp_path: Path) -> None:
    done = gammu(tmp_path, emulator.port, "identify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"IMEI                 : {emulator.imei}" in done.stdout
    assert "SIM IMSI             : 00101" in done.stdout


def test_gammu_sends_an_sms(emulator: Emulator, tmp_path: Path) -> None:
    done = gammu(
        tmp_path, emulator.port, "sendsms", "TEXT", "+393331234567", "-text", "hello from gammu"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK, message reference=" in done.stdout + done.stderr
    assert emulator.accepted() == [("+393331234567", "hello from gammu")]


def test_smsd_initialises_and_sends_a_spooled_sms(emulator: Emulator, tmp_path: Path) -> None:
    spool = {name: tmp_path / name for name in ("outgoing", "checked", "failed", "sent", "in")}
    for folder in spool.values():
        folder.mkdir()
    config = tmp_path / "smsd.conf"
    config.write_text(
        "devices = GSM1\n"
        + "".join(
            f"{name if name != 'in' else 'incoming'} = {path}\n" for name, path in spool.items()
        )
        + f"logfile = {tmp_path / 'smsd.log'}\ninfofile = {tmp_path / 'smsd.working'}\n"
        f"pidfile = {tmp_path / 'smsd.pid'}\nloglevel = 7\ndelaytime = 1\n"
        f"receive_before_send = no\n\n[GSM1]\ndevice = {emulator.port}\nincoming = no\n"
    )
    (spool["outgoing"] / "job1").write_text("To: 393331234567\n\nhello from smsd\n")
    smsd = subprocess.Popen(
        ["smsd", "-c", str(config), "-t"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # smsd forks a process per modem: stop the whole group
    )
    try:
        wait_for(lambda: (spool["sent"] / "job1").exists() or any(spool["failed"].iterdir()),
                 "smsd to send")  # fmt: skip
    finally:
        os.killpg(smsd.pid, signal.SIGTERM)
        smsd.wait(CLIENT_TIMEOUT_S)
    log = (tmp_path / "smsd.log").read_text(errors="replace")
    assert "-> AT+CMEE=1;+CREG=2" in log and "<- ERROR" not in log, log
    assert (spool["sent"] / "job1").exists(), log
    assert emulator.accepted() == [("+393331234567", "hello from smsd")]


def test_python_gsmmodem_connects_names_the_network_and_sends(emulator: Emulator) -> None:
    modem = GsmModem(emulator.port, 115200)
    modem.connect()
    try:
        assert modem.imei == emulator.imei
        assert modem.networkName == "modemd Test Network"
        assert modem.signalStrength == 20  # the emulator's default rssi
        sent = modem.sendSms("+393331234567", "hello from gsmmodem")
        assert 0 <= sent.reference <= 255
    finally:
        modem.close()
    assert emulator.accepted() == [("+393331234567", "hello from gsmmodem")]


def test_python_gsmmodem_receives_an_sms_from_the_emulated_network(emulator: Emulator) -> None:
    received: list[tuple[str, str]] = []
    modem = GsmModem(
        emulator.port,
        115200,
        smsReceivedCallbackFunc=lambda sms: received.append((sms.number, sms.text)),
    )
    modem.connect()
    try:
        answer = emulator.network("sms emu0 +393331234567 ciao from the network")
        assert answer == "sms to emu0: 1 part(s) from +393331234567"
        wait_for(lambda: bool(received), "GsmModem's smsReceivedCallbackFunc")  # +CMTI, AT+CMGR
        assert received == [("+393331234567", "ciao from the network")]
        assert emulator.network("sms emu9 +1 x") == "no emulated modem emu9"
    finally:
        modem.close()
