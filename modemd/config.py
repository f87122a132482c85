"""Settings: defaults < TOML file < environment < flags. Frozen; validated with clear errors."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modemd.errors import ConfigError
from modemd.model import NO_PACING, LabelRule, Pacing, PhoneConfig

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


LABEL_KEYS = {"id_serial": "ID_SERIAL", "id_path": "ID_PATH"}
PHONE_MATCH_KEYS = ("interface", "mac", "serial")  # how [[phones]] names a tethered phone
PACING_KEYS = {"min_gap_s": (int, float), "daily_cap": (int,), "monthly_cap": (int,)}


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = DEFAULT_DB
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    devices: tuple[PortConfig, ...] = field(default_factory=tuple)
    simulate: int = 0  # emulated modems to start in-process
    simulate_pin: str = DEFAULT_PIN
    phones: tuple[PhoneConfig, ...] = ()  # [[phones]] entries of the config file
    simulate_phones: int = 0  # emulated SMSGate phones to start in-process (same pin)
    record: str | None = None  # JSON-lines record of what the emulated network accepted
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For the API believes
    admin_token: str | None = None  # admin API from anywhere with this Bearer token (else loopback)
    udev: bool = False  # discover labelled modems through udev and follow hot-plug
    labels: tuple[LabelRule, ...] = ()  # pins of devices that no udev rule labels
    sim_pins: dict[str, str] = field(default_factory=dict)  # ICCID -> SIM PIN
    pacing: Pacing = NO_PACING  # every device's, unless pacing_by_device has its IMEI
    pacing_by_device: dict[str, Pacing] = field(default_factory=dict)

    def pacing_of(self, device_id: str) -> Pacing:
        return self.pacing_by_device.get(device_id, self.pacing)


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
    for name, kind in (("db", str), ("host", str), ("port", int), ("admin_token", str)):
        if name in server:
            if not isinstance(server[name], kind):
                raise ConfigError(f"config {path}: server.{name} must be {kind.__name__}")
            values[name] = server[name]
    proxies = server.get("trusted_proxies", [])
    if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
        raise ConfigError(f"config {path}: server.trusted_proxies must be a list of addresses")
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError as exc:
            raise ConfigError(f"config {path}: server.trusted_proxies: {proxy!r}: {exc}") from exc
    values["trusted_proxies"] = tuple(proxies)
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
    values["phones"] = _phones(data.get("phones", []), path)
    values.update(_hardware(path, data))
    return values


def _hardware(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The [udev], [sim_pins] and [pacing] tables."""
    values: dict[str, Any] = {}
    udev = data.get("udev", {})
    if "enabled" in udev:
        if not isinstance(udev["enabled"], bool):
            raise ConfigError(f"config {path}: udev.enabled must be true or false")
        values["udev"] = udev["enabled"]
    labels = []
    for i, entry in enumerate(udev.get("labels", [])):
        keys = [k for k in LABEL_KEYS if isinstance(entry, dict) and k in entry]
        if len(keys) != 1 or not isinstance(entry.get("pin"), str | int):
            raise ConfigError(
                f"config {path}: udev.labels[{i}] needs a 'pin' and one of id_serial, id_path"
            )
        labels.append(LabelRule(LABEL_KEYS[keys[0]], str(entry[keys[0]]), str(entry["pin"])))
    values["labels"] = tuple(labels)
    sim_pins = data.get("sim_pins", {})
    if not isinstance(sim_pins, dict):
        raise ConfigError(f'config {path}: sim_pins must be a table of ICCID = "PIN"')
    values["sim_pins"] = {str(iccid): str(pin) for iccid, pin in sim_pins.items()}
    pacing = data.get("pacing", {})
    values["pacing"] = _pacing(path, "pacing", pacing)
    values["pacing_by_device"] = {
        str(imei): _pacing(path, f"pacing.devices.{imei}", table, values["pacing"])
        for imei, table in pacing.get("devices", {}).items()
    }
    return values


def _pacing(path: Path, where: str, table: Any, base: Pacing = NO_PACING) -> Pacing:
    if not isinstance(table, dict):
        raise ConfigError(f"config {path}: {where} must be a table")
    values: dict[str, Any] = {}
    for name, kinds in PACING_KEYS.items():
        if name in table:
            value = table[name]
            if isinstance(value, bool) or not isinstance(value, kinds) or value < 0:
                raise ConfigError(f"config {path}: {where}.{name} must be a number >= 0")
            values[name] = value
    return replace(base, **values)


def _phones(entries: Any, path: Path) -> tuple[PhoneConfig, ...]:
    """``[[phones]]``: url, pin, password (required), username, pace_parts."""
    phones = []
    for i, entry in enumerate(entries if isinstance(entries, list) else [None]):
        found = {k: entry[k] for k in PHONE_MATCH_KEYS if isinstance(entry, dict) and k in entry}
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("password"), str)
            or not (isinstance(entry.get("url"), str) or found)
            or not all(isinstance(v, str) for v in found.values())
        ):
            raise ConfigError(
                f"config {path}: phones[{i}] needs 'url' and 'password' strings (or, for a "
                "tethered phone found by udev, 'password' and one of interface, mac, serial)"
            )
        pin = entry.get("pin")  # a tethered phone may take its pin from udev's MODEMD_PIN
        if not isinstance(pin, str | int) and (pin is not None or "url" in entry):
            raise ConfigError(f"config {path}: phones[{i}] needs a 'pin'")
        app_port = entry.get("port", 8080)
        if isinstance(app_port, bool) or not isinstance(app_port, int) or not 0 < app_port < 65536:
            raise ConfigError(f"config {path}: phones[{i}].port must be a TCP port (1-65535)")
        pace = entry.get("pace_parts")
        if pace is not None and (not isinstance(pace, int) or pace < 1):
            raise ConfigError(f"config {path}: phones[{i}].pace_parts must be a positive integer")
        username = str(entry.get("username", "sms"))
        hook = {k: entry[k] for k in ("webhook_url", "signing_key") if k in entry}
        if hook and (len(hook) != 2 or not all(isinstance(v, str) and v for v in hook.values())):
            raise ConfigError(
                f"config {path}: phones[{i}] needs both 'webhook_url' and 'signing_key' strings"
            )
        phones.append(
            PhoneConfig(
                entry.get("url", ""),
                "" if pin is None else str(pin),
                entry["password"],
                username,
                pace,
                **found,
                app_port=app_port,
                **hook,
            )
        )
    return tuple(phones)


def load(config: str | None = None, **flags: Any) -> Settings:
    """Build the settings; ``flags`` that are None are left to the layers below."""
    settings = Settings()
    if config:
        settings = replace(settings, **_from_file(Path(config)))
    if os.environ.get("MODEMD_DB"):
        settings = replace(settings, db=os.environ["MODEMD_DB"])
    if os.environ.get("MODEMD_ADMIN_TOKEN"):
        settings = replace(settings, admin_token=os.environ["MODEMD_ADMIN_TOKEN"])
    extra_devices = flags.pop("extra_devices", ())
    settings = replace(settings, **{k: v for k, v in flags.items() if v is not None})
    if extra_devices:
        settings = replace(settings, devices=settings.devices + tuple(extra_devices))
    if not 0 <= settings.port < 65536:  # 0: any free port (tests)
        raise ConfigError(f"port {settings.port} is out of range")
    if settings.simulate < 0:
        raise ConfigError("--simulate must be 0 or more")
    if settings.simulate_phones < 0:
        raise ConfigError("--simulate-phones must be 0 or more")
    return settings
