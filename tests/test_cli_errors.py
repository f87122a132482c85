"""The CLI as an operator meets it: one config with the daemon, errors instead of tracebacks."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from modemd.cli import main
from modemd.emulators.phone import EmulatedPhoneBank

MODEMD = [sys.executable, "-m", "modemd"]
LOCAL_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
READ_ONLY = [
    ["devices"],
    ["keys", "list"],
    ["keys", "revoke", "1"],
    ["jobs"],
    ["jobs", "show", "job_x"],
    ["ipn", "list"],
    ["ipn", "replay", "evt_x"],
    ["wallet", "prices"],
    ["wallet", "show", "1"],
    ["wallet", "topup", "1", "5"],
]


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.output


def make_db(tmp_path: Path, name: str = "m.db") -> Path:
    db = tmp_path / name
    code, out = cli("keys", "create", "--pin", "7", "--over-ip", "--label", "shop", "--db", str(db))
    assert code == 0, out
    return db


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_commands_that_need_a_database_never_create_one(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "nothing.db"
    code, out = cli(*args, "--db", str(missing))
    assert code == 1 and f"Error: no database at {missing}" in out
    assert not missing.exists()


def test_group_options_reach_subcommands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_db(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out = cli("jobs", "--db", str(db), "show", "job_nope")
    assert code == 1 and "Error: no job job_nope" in out
    assert not (tmp_path / "modemd.db").exists()


def test_unusable_database_files_are_one_line_errors(tmp_path: Path) -> None:
    code, out = cli("keys", "list", "--db", str(tmp_path))
    assert code == 1 and out == f"Error: {tmp_path} is a directory, not a database file " + (
        f"(try {tmp_path / 'modemd.db'})\n"
    )
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 10)
    code, out = cli("keys", "create", "--pin", "7", "--over-ip", "--db", str(text))
    assert (
        code == 1 and out == f"Error: {text} is not a SQLite database (a modemd database is one)\n"
    )
    db = make_db(tmp_path)
    with sqlite3.connect(db) as conn:  # as a later modemd would leave it
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', 0)")
    code, out = cli("keys", "list", "--db", str(db))
    assert code == 1 and "was written by a newer modemd (schema version 999" in out
    proc = subprocess.run(
        [*MODEMD, "serve", "--db", str(db), "--port", "0"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "newer modemd" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_on_a_port_in_use_names_the_holder(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = subprocess.run(
            [*MODEMD, "serve", "--db", str(tmp_path / "m.db"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1, proc.stderr
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(f"Error: port {port} on 127.0.0.1 is in use by pid {os.getpid()} (")
    assert error.endswith("): stop it, or choose --port or server.port")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("chosen", "logged"),
    [(None, "event loop: uvloop "), ("asyncio", "event loop: asyncio's own")],
)
def test_serve_runs_on_uvloop_unless_told_otherwise(
    tmp_path: Path, chosen: str | None, logged: str
) -> None:
    """server.event_loop (or MODEMD_EVENT_LOOP) picks the loop; the log says which one ran
    (here until the port it was given turns out to be taken)."""
    env = {k: v for k, v in os.environ.items() if k != "MODEMD_EVENT_LOOP"}
    if chosen is not None:
        env["MODEMD_EVENT_LOOP"] = chosen
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        serve = [*MODEMD, "serve", "--db", str(tmp_path / "m.db")]
        port = ["--port", str(holder.getsockname()[1])]
        proc = subprocess.run(serve + port, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1 and logged in proc.stderr, proc.stderr
    env["MODEMD_EVENT_LOOP"] = "tokio"
    proc = subprocess.run(serve, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "Error: MODEMD_EVENT_LOOP='tokio': uvloop or asyncio" in proc.stderr


def test_one_config_for_daemon_and_cli(tmp_path: Path) -> None:
    config = tmp_path / "modemd.toml"
    config.write_text(f'[server]\ndb = "{tmp_path / "from-config.db"}"\n')
    env = {"MODEMD_CONFIG": str(config)}
    code, out = cli("keys", "create", "--pin", "9", "--over-ip", env=env)
    assert code == 0 and (tmp_path / "from-config.db").exists()
    code, out = cli("keys", "list", env=env)
    assert code == 0 and " 9 " in out
    code, out = cli("keys", "list", "--config", str(config), env={"MODEMD_CONFIG": ""})
    assert code == 0 and " 9 " in out
    other = make_db(tmp_path, "other.db")  # MODEMD_DB beats the file, --db beats both
    code, out = cli("keys", "list", env={**env, "MODEMD_DB": str(other)})
    assert " 7 " in out and " 9 " not in out
    code, out = cli("keys", "list", "--db", str(other), env=env)
    assert " 7 " in out and " 9 " not in out
    config.write_text("[server]\nprot = 1\n")
    code, out = cli("keys", "list", env=env)
    assert code == 1 and "unknown key server.prot (did you mean server.port?)" in out


def test_bad_values_are_refused(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    code, out = cli("jobs", "--state", "bogus", "--db", str(db))
    assert code == 2 and "Invalid value for '--state'" in out
    code, out = cli("ipn", "replay", "--since", "yesterday", "--db", str(db))
    assert code == 2 and "not a time: yesterday (ISO-8601 or Unix seconds)" in out
    code, out = cli(
        "ipn", "replay", "--since", "1764590400", "--until", "1764590401.5", "--db", str(db)
    )
    assert code == 0 and "0 events replayed" in out


def test_tables_show_labels_and_local_iso_times(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    code, out = cli("keys", "list", "--db", str(db))
    header, row = out.splitlines()
    assert "LABEL" in header and " shop " in row
    assert cli("wallet", "topup", "1", "5", "--db", str(db))[0] == 0
    code, out = cli("wallet", "show", "1", "--db", str(db))
    assert code == 0 and LOCAL_ISO.search(out), out


def test_version() -> None:
    code, out = cli("--version")
    assert code == 0 and re.fullmatch(r"modemd \d+\.\d+\.\d+\S*\n", out)


def every_option(group: click.Group, path: str = "modemd") -> list[tuple[str, click.Option]]:
    found = [(path, p) for p in group.params if isinstance(p, click.Option)]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += every_option(command, f"{path} {name}")
        else:
            found += [(f"{path} {name}", p) for p in command.params if isinstance(p, click.Option)]
    return found


@pytest.mark.parametrize(("path", "option"), every_option(main), ids=lambda v: str(v))
def test_every_option_has_help(path: str, option: click.Option) -> None:
    assert option.help, f"{path} {option.opts[0]} has no help text"


@pytest.mark.parametrize("args", [["ipn-listen", "--port", "0"], ["emulate", "--count", "1"]])
async def test_ctrl_c_stops_foreground_commands_cleanly(args: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *MODEMD, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    first = await asyncio.wait_for(proc.stdout.readline(), 60)
    assert first, "no output before Ctrl-C"
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert b"Aborted" not in err and b"Traceback" not in err


async def test_doctor_checks_the_ports_the_config_lists(tmp_path: Path) -> None:
    # `modemd emulate` keeps the pty open as a modem's port is held by nothing but modemd.
    emulate = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "modemd"),
        "emulate",
        "--count",
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    assert emulate.stdout is not None
    try:
        port = (await asyncio.wait_for(emulate.stdout.readline(), 60)).decode().split()[1]
        config = tmp_path / "modemd.toml"
        config.write_text(f'[[devices]]\nport = "{port}"\npin = "4711"\n')
        proc = await asyncio.create_subprocess_exec(
            *MODEMD, "doctor", "--config", str(config), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        emulate.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(emulate.wait(), 60)
        except TimeoutError:
            emulate.kill()
            await emulate.wait()
            raise
    (line,) = [line for line in out.decode().splitlines() if port in line]
    assert line.startswith(f"ok  {port}: pin 4711 (config): usable: SIM ready, registered"), line


def test_the_demo_says_what_it_does_before_each_slow_step() -> None:
    lines = (Path(__file__).parent.parent / "scripts" / "demo").read_text().splitlines()
    slow = [
        i for i, line in enumerate(lines) if re.search(r"pip install|-m venv|modemd serve", line)
    ]
    assert len(slow) == 3
    for start, end in zip([0, *slow], slow, strict=False):
        assert any(line.strip().startswith("say ") for line in lines[start:end]), lines[end]


async def test_doctor_checks_the_phones_the_config_lists(tmp_path: Path) -> None:
    async with EmulatedPhoneBank.create(1) as bank:
        phone = bank.phones[0]
        config = tmp_path / "modemd.toml"
        password = phone.profile.password
        config.write_text(
            f'[[phones]]\nurl = "{phone.url}"\npin = "4711"\npassword = "{password}"\n'
            f'[[phones]]\nurl = "{phone.url}/"\npin = "4712"\npassword = "wrong"\n'
        )
        proc = await asyncio.create_subprocess_exec(
            *MODEMD, "doctor", "--config", str(config), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    lines = [line for line in out.decode().splitlines() if phone.url in line]
    assert len(lines) == 2, out.decode()
    assert lines[0].startswith(f"ok  {phone.url}: pin 4711: {phone.url}: usable"), lines
    assert "pin 4712" in lines[1] and "wrong username or password (401)" in lines[1], lines
