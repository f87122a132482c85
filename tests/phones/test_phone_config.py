"""``[[phones]]`` in the config file and ``--simulate-phones``."""

from __future__ import annotations

from pathlib import Path

import pytest

from modemd import config
from modemd.errors import ConfigError


def test_phones_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "modemd.toml"
    path.write_text(
        '[[phones]]\nurl = "http://192.168.42.129:8080"\npin = 4711\npassword = "AbCd1234"\n'
        '[[phones]]\nurl = "http://10.0.0.2:8080"\npin = "9"\npassword = "x"\n'
        'username = "gw"\npace_parts = 10\n'
    )
    settings = config.load(str(path), simulate_phones=2)
    assert settings.phones == (
        config.PhoneConfig("http://192.168.42.129:8080", "4711", "AbCd1234"),
        config.PhoneConfig("http://10.0.0.2:8080", "9", "x", "gw", 10),
    )
    assert settings.simulate_phones == 2


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ('url = "http://p:8080"\npin = "1"', "needs a 'password'"),
        ('pin = "1"\npassword = "x"', "needs 'url' and 'password'"),
        ('url = "http://p:8080"\npassword = "x"', "needs a 'pin'"),
        ('url = "http://p"\npin = "1"\npassword = "x"\npace_parts = 0', "pace_parts"),
    ],
)
def test_bad_phone_entries_say_what_is_wrong(tmp_path: Path, entry: str, words: str) -> None:
    path = tmp_path / "modemd.toml"
    path.write_text(f"[[phones]]\n{entry}\n")
    with pytest.raises(ConfigError, match=words):
        config.load(str(path))


def test_negative_simulated_phones_are_refused() -> None:
    with pytest.raises(ConfigError, match="simulate-phones"):
        config.load(None, simulate_phones=-1)
