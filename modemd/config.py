"""Settings: defaults < TOML file < environment < flags. Frozen; validated with clear errors."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modemd.caps import CapsPolicy, PoolCaps
from modemd.config_check import defaults, validate
from modemd.config_schema import DEFAULT_DB, DEFAULT_HOST, DEFAULT_PIN, DEFAULT_PORT
from modemd.errors import ConfigError
from modemd.model import NO_PACING, LabelRule, Pacing, PhoneConfig

SYSTEM_CONFIG = "/etc/modemd/modemd.toml"  # the installer writes it; daemon and CLI read it
SERVER_KEYS = ("db", "host", "port", "admin_token", "trusted_proxies", "host_id")


@dataclass(frozen=True, slots=True)
class PortConfig:
    """A serial port used directly (RS-232 modem, a ``modemd emulate`` pty)."""

    port: str
    pin: str
    sim_pin: str | None = None


LABEL_KEYS = {"id_serial": "ID_SERIAL", "id_path": "ID_PATH"}
PHONE_MATCH_KEYS = ("interface", "mac", "serial")  # how [[phones]] names a tethered phone
PACING_KEYS = ("min_gap_s", "daily_cap", "monthly_cap")


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = DEFAULT_DB
    host_id: str | None = None  # among hosts sharing a PostgreSQL database (None: machine id)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    devices: tuple[PortConfig, ...] = field(default_factory=tuple)
    simulate: int = 0  # emulated modems to start in-process
    simulate_pin: str = DEFAULT_PIN
    phones: tuple[PhoneConfig, ...] = ()  # [[phones]] entries of the config file
    simulate_phones: int = 0  # emulated SMSGate phones to start in-process (same pin)
    record: str | None = None  # JSON-lines record of what the emulated network accepted
    simulate_replies: str | None = None  # emulated handsets answer each SMS with this text
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For the API believes
    admin_token: str | None = (
        None  # admin API over TCP with this Bearer token (else only the socket)
    )
    udev: bool = False  # discover labelled modems through udev and follow hot-plug
    labels: tuple[LabelRule, ...] = ()  # pins of devices that no udev rule labels
    sim_pins: dict[str, str] = field(default_factory=dict)  # ICCID -> SIM PIN
    pacing: Pacing = NO_PACING  # every device's, unless pacing_by_device has its IMEI
    pacing_by_device: dict[str, Pacing] = field(default_factory=dict)
    pacing_by_sim: dict[str, Pacing] = field(default_factory=dict)  # ICCID -> its own caps
    # The config file as checked against the schema, every default filled in: see option().
    document: dict[str, Any] = field(default_factory=defaults)

    def pacing_of(self, device_id: str, iccid: str = "") -> Pacing:
        """The SIM's own pacing, else the device's, else [pacing]'s (caps count per SIM)."""
        if iccid in self.pacing_by_sim:
            return self.pacing_by_sim[iccid]
        return self.pacing_by_device.get(device_id, self.pacing)

    def caps(self) -> CapsPolicy:
        """Every cap: each SIM's ([pacing], [pacing.sims], [pacing.devices]), each pool's and
        each key's ([pools."<pin>"])."""
        return CapsPolicy(self.pacing_of, PoolCaps.from_config(self.option("pools") or {}))

    def option(self, name: str) -> Any:
        """A config value by its dotted name (``"server.port"``, ``"pools"``): the file's or
        the schema's default. Flags and environment are applied to the fields above only."""
        value: Any = self.document
        for part in name.split("."):
            if not isinstance(value, dict) or part not in value:
                raise KeyError(f"no config key {name} in the schema")
            value = value[part]
        return value


def parse_device(spec: str, default_pin: str) -> PortConfig:
    """``PORT[:PIN]`` from the command line."""
    port, _, pin = spec.partition(":")
    if not port:
        raise ConfigError(f"--device {spec!r}: no port")
    return PortConfig(port=port, pin=pin or default_pin)


def config_file(explicit: str | None = None) -> str | None:
    """--config, else $MODEMD_CONFIG (set but empty: no file), else SYSTEM_CONFIG if present."""
    if explicit:
        return explicit
    if "MODEMD_CONFIG" in os.environ:
        return os.environ["MODEMD_CONFIG"] or None
    return SYSTEM_CONFIG if Path(SYSTEM_CONFIG).exists() else None


def read_file(path: Path) -> dict[str, Any]:
    """The file checked against the schema, every default filled in (ConfigError otherwise)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path}: not UTF-8 text ({exc.reason})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: {exc}") from exc
    return validate(data, text, str(path))


def _from_file(path: Path) -> dict[str, Any]:
    document = read_file(path)
    server = document["server"]
    values: dict[str, Any] = {name: server[name] for name in SERVER_KEYS}
    values["devices"] = tuple(
        PortConfig(entry["port"], entry["pin"], entry["sim_pin"]) for entry in document["devices"]
    )
    values["phones"] = _phones(document["phones"], path)
    values.update(_hardware(path, document))
    values["document"] = document
    return values


def _hardware(path: Path, document: dict[str, Any]) -> dict[str, Any]:
    """The [udev], [sim_pins] and [pacing] tables."""
    udev = document["udev"]
    labels = []
    for i, entry in enumerate(udev["labels"]):
        keys = [k for k in LABEL_KEYS if entry[k] is not None]
        if len(keys) != 1:
            raise ConfigError(
                f"config {path}: udev.labels[{i}] needs a 'pin' and one of id_serial, id_path"
            )
        labels.append(LabelRule(LABEL_KEYS[keys[0]], entry[keys[0]], entry["pin"]))
    pacing = _pacing(document["pacing"])
    return {
        "udev": udev["enabled"],
        "labels": tuple(labels),
        "sim_pins": dict(document["sim_pins"]),
        "pacing": pacing,
        "pacing_by_device": {
            imei: _pacing(table, pacing) for imei, table in document["pacing"]["devices"].items()
        },
        "pacing_by_sim": {
            iccid: _pacing(table, pacing) for iccid, table in document["pacing"]["sims"].items()
        },
    }


def _pacing(table: dict[str, Any], base: Pacing = NO_PACING) -> Pacing:
    return replace(base, **{k: table[k] for k in PACING_KEYS if table[k] is not None})


def _phones(entries: list[dict[str, Any]], path: Path) -> tuple[PhoneConfig, ...]:
    """``[[phones]]``: a url, or (a tethered phone found by udev) one of interface, mac, serial."""
    phones = []
    for i, entry in enumerate(entries):
        found = {k: entry[k] for k in PHONE_MATCH_KEYS if entry[k] is not None}
        if entry["url"] is None and not found:
            raise ConfigError(
                f"config {path}: phones[{i}] needs 'url' and 'password' strings (or, for a "
                "tethered phone found by udev, 'password' and one of interface, mac, serial)"
            )
        if entry["pin"] is None and entry["url"] is not None:
            raise ConfigError(f"config {path}: phones[{i}] needs a 'pin'")
        hook = {k: entry[k] for k in ("webhook_url", "signing_key") if entry[k]}
        if (entry["webhook_url"] is not None or entry["signing_key"] is not None) and len(
            hook
        ) != 2:
            raise ConfigError(
                f"config {path}: phones[{i}] needs both 'webhook_url' and 'signing_key' strings"
            )
        phones.append(
            PhoneConfig(
                entry["url"] or "",
                entry["pin"] or "",
                entry["password"],
                entry["username"],
                entry["pace_parts"],
                **found,
                app_port=entry["port"],
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
    if settings.simulate_replies is not None and not settings.simulate_replies.strip():
        raise ConfigError("--simulate-replies needs a text")
    if settings.simulate_replies and not settings.simulate:
        raise ConfigError("--simulate-replies needs --simulate N (emulated modems)")
    return settings
