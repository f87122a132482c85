"""The CLI: documented, and clear about bad input."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from modemd import config
from modemd.cli import main

README = (Path(__file__).parent.parent / "README.md").read_text()


def command_paths(group: click.Group, prefix: str = "modemd") -> list[str]:
    paths = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += command_paths(command, f"{prefix} {name}")
        else:
            paths.append(f"{prefix} {name}")
    return paths


@pytest.mark.parametrize("path", command_paths(main))
def test_every_command_is_in_the_readme(path: str) -> None:
    assert f"`{path}" in README, f"{path} is not documented in README.md"


def test_keys_create_prints_the_key_last_and_stores_only_a_hash(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    result = CliRunner().invoke(
        main, ["keys", "create", "--pin", "7", "--over-ip", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"mdk_[A-Za-z0-9_-]{43}", secret)
    listed = CliRunner().invoke(main, ["keys", "list", "--db", str(db)])
    assert listed.exit_code == 0 and secret[:12] in listed.output and secret not in listed.output


def test_keys_create_rejects_a_bad_ipn_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["keys", "create", "--pin", "7", "--ipn-url", "ftp://x", "--db", str(tmp_path / "k.db")],
    )
    assert result.exit_code == 2 and "--ipn-url" in result.output


def test_config_file_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "modemd.toml"
    path.write_text(
        '[server]\nport = 9000\n[[devices]]\nport = "/dev/ttyUSB2"\npin = 4711\nsim_pin = "1234"\n'
    )
    settings = config.load(
        str(path), host="0.0.0.0", port=None, extra_devices=[config.parse_device("/dev/ttyS0", "1")]
    )
    assert settings.port == 9000 and settings.host == "0.0.0.0"
    assert [(d.port, d.pin, d.sim_pin) for d in settings.devices] == [
        ("/dev/ttyUSB2", "4711", "1234"),
        ("/dev/ttyS0", "1", None),
    ]


def test_serve_reports_config_errors_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nport = 70000\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(path)])
    assert result.exit_code == 1 and "server.port must be a TCP port" in result.output
