"""Settings: defaults < TOML file < environment < flags. Frozen; validated with clear errors."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modemd.errors import ConfigError

DEFAULT_DB = "modemd.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_PIN = "1000"


@dataclass(frozen=True, slots=True)
class PortConfig:
    """A serial port used directly (RS-232 modem, a ``modemd emulate`` pty)."""

    port: str
    pin: str
    sim_pin: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = DEFAULT_DB
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    devices: tuple[PortConfig, ...] = field(default_factory=tuple)
    simulate: int = 0  # emulated modems to start in-process
    simulate_pin: str = DEFAULT_PIN
    record: str | None = None  # JSON-lines record of what the emulated network accepted


def parse_device(spec: str, default_pin: str) -> PortConfig:
    """``PORT[:PIN]`` from the command line."""
    port, _, pin = spec.partition(":")
    if not port:
        raise ConfigError(f"--device {spec!r}: no port")
    return PortConfig(port=port, pin=pin or default_pin)


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: {exc}") from exc
    values: dict[str, Any] = {}
    server = data.get("server", {})
    for name, kind in (("db", str), ("host", str), ("port", int)):
        if name in server:
            if not isinstance(server[name], kind):
                raise ConfigError(f"config {path}: server.{name} must be {kind.__name__}")
            values[name] = server[name]
    devices = []
    for i, entry in enumerate(data.get("devices", [])):
        if not isinstance(entry, dict) or not isinstance(entry.get("port"), str):
            raise ConfigError(f"config {path}: devices[{i}] needs a 'port' string")
        if not isinstance(entry.get("pin"), str | int):
            raise ConfigError(f"config {path}: devices[{i}] needs a 'pin'")
        sim_pin = entry.get("sim_pin")
        devices.append(
            PortConfig(
                entry["port"], str(entry["pin"]), str(sim_pin) if sim_pin is not None else None
            )
        )
    values["devices"] = tuple(devices)
    return values


def load(config: str | None = None, **flags: Any) -> Settings:
    """Build the settings; ``flags`` that are None are left to the layers below."""
    settings = Settings()
    if config:
        settings = replace(settings, **_from_file(Path(config)))
    if os.environ.get("MODEMD_DB"):
        settings = replace(settings, db=os.environ["MODEMD_DB"])
    extra_devices = flags.pop("extra_devices", ())
    settings = replace(settings, **{k: v for k, v in flags.items() if v is not None})
    if extra_devices:
        settings = replace(settings, devices=settings.devices + tuple(extra_devices))
    if not 0 <= settings.port < 65536:  # 0: any free port (tests)
        raise ConfigError(f"port {settings.port} is out of range")
    if settings.simulate < 0:
        raise ConfigError("--simulate must be 0 or more")
    return settings
