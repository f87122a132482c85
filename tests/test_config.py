"""The config file: declared once in the schema, typos are errors with file, line and a hint."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from modemd import config
from modemd.cli import main
from modemd.config_check import line_numbers, reference_markdown, template
from modemd.config_kinds import Key, Mapping, Section
from modemd.config_schema import SCHEMA
from modemd.errors import ConfigError

README = (Path(__file__).parent.parent / "README.md").read_text()


def load_text(tmp_path: Path, text: str) -> config.Settings:
    path = tmp_path / "modemd.toml"
    path.write_text(text)
    return config.load(str(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sever]\nport = 1\n", "modemd.toml:1: unknown section [sever] (did you mean [server]?)"),
        (
            '[[device]]\nport = "/dev/ttyUSB0"\npin = "1"\n',
            "modemd.toml:1: unknown section [[device]] (did you mean [[devices]]?)",
        ),
        (
            '[server]\nhost = "::"\nprot = 18082\n',
            "modemd.toml:3: unknown key server.prot (did you mean server.port?)",
        ),
        (
            '[[phones]]\nurl = "http://a"\npin = "1"\npassword = "x"\n'
            '[[phones]]\nurl = "http://b"\npin = "1"\npasword = "x"\n',
            "modemd.toml:8: unknown key phones[1].pasword (did you mean phones.password?)",
        ),
        ('[pacing.devices."3500"]\ndaily_kap = 1\n', "modemd.toml:2: unknown key pacing.devices"),
        ("flavour = 1\n", "modemd.toml:1: unknown key flavour\n"),
        ("[server]\nport = 'x'\n", "modemd.toml:2: server.port must be a TCP port"),
        ("[server]\nport = 70000\n", "server.port must be a TCP port (1-65535, 0: any free"),
        ("[[devices]]\npin = '1'\n", "modemd.toml:1: devices[0] needs a 'port'"),
        ('[server]\ntrusted_proxies = ["10.0.0.300"]\n', "server.trusted_proxies must be a list"),
        ("server = 5\n", "modemd.toml:1: server must be a table"),
        ("[sim_pins]\n'8900' = 1.5\n", "modemd.toml:2: sim_pins.8900 must be a string or"),
        ("[server\n", "modemd.toml: Expected ']'"),
    ],
)
def test_mistakes_are_errors_with_file_line_and_hint(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    assert message in str(caught.value) + "\n"


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, "[sever]\n[server]\nprot = 1\nhost = 2\n")
    lines = str(caught.value).splitlines()
    assert [re.sub(r"^config \S+?:(\d+): .*", r"\1", line) for line in lines] == ["1", "3", "4"]


def test_line_numbers_follow_arrays_quotes_and_multiline_strings() -> None:
    text = (
        '[[phones]]\nurl = "a"\n[[phones]]\nnote = """\nport = 1\n"""\nport = 2\n'
        '[pacing.devices."35 00"]\ndaily_cap = 1\n[[udev.labels]]\npin = "1"\n'
    )
    lines = line_numbers(text)
    assert lines[("phones", 1)] == 3 and lines[("phones", 1, "port")] == 7
    assert lines[("pacing", "devices", "35 00", "daily_cap")] == 9
    assert lines[("udev", "labels", 0, "pin")] == 11


def test_defaults_and_option_come_from_the_schema(tmp_path: Path) -> None:
    settings = load_text(tmp_path, "[server]\nport = 9001\n")
    assert settings.option("server.port") == 9001 and settings.option("server.host") == "127.0.0.1"
    assert config.load(None).option("udev.enabled") is False
    with pytest.raises(KeyError):
        settings.option("server.nope")


def walk(section: Section) -> list[Key | Mapping]:
    found: list[Key | Mapping] = []
    for node in section.entries:
        found += walk(node) if isinstance(node, Section) else [node]
    return found


@pytest.mark.parametrize("key", walk(SCHEMA), ids=lambda k: k.name)
def test_every_example_is_valid_for_its_key(key: Key | Mapping) -> None:
    key.kind.check(tomllib.loads(f"x = {key.example}")["x"])
    assert key.help and key.example


def test_readme_configuration_reference_is_the_schema() -> None:
    assert "## Configuration reference" in README
    assert reference_markdown() in README, "regenerate it: modemd.config_check.reference_markdown()"


def test_template_is_a_valid_config_listing_every_key(tmp_path: Path) -> None:
    text = template({"server.db": '"/var/lib/modemd/modemd.db"', "udev.enabled": "true"})
    settings = load_text(tmp_path, text)
    assert settings.db == "/var/lib/modemd/modemd.db" and settings.udev is True
    for key in walk(SCHEMA):
        assert re.search(
            rf"^#? ?\"?{re.escape(key.name if isinstance(key, Key) else key.each)}", text, re.M
        ), key.name
    with pytest.raises(ConfigError, match=r"server\.port must be"):
        template({"server.port": '"x"'})
    with pytest.raises(ConfigError, match=r"no key devices\.port"):
        template({"devices.port": '"/dev/x"'})


def test_config_check_command(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[server]\nport = 9000\n[[devices]]\nport = "/dev/ttyUSB2"\npin = 4711\n')
    result = CliRunner().invoke(main, ["config", "check", str(good)])
    assert result.exit_code == 0 and "ok (1 devices, 0 phones" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nprot = 9000\n")
    result = CliRunner().invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 1
    assert "bad.toml:2: unknown key server.prot (did you mean server.port?)" in result.output
    result = CliRunner(env={"MODEMD_CONFIG": str(good)}).invoke(main, ["config", "check"])
    assert result.exit_code == 0 and str(good) in result.output


def test_config_template_command(tmp_path: Path) -> None:
    out = tmp_path / "t.toml"
    result = CliRunner().invoke(
        main, ["config", "template", "--set", "server.port=9009", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert config.load(str(out)).port == 9009
    result = CliRunner().invoke(main, ["config", "template", "--set", "server.prot=1"])
    assert result.exit_code == 2 and "server.prot" in result.output
