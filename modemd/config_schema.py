"""Every section and key of the config file, declared once: kind, default, help, example.

Adding a key is one line in ``SCHEMA`` (a pool's: in ``config_pools.POOLS``); it is then
validated (unknown keys and sections are errors with file, line and "did you mean"), documented
(``reference_markdown`` is the README's "Configuration reference", a test keeps them equal), in
the commented template the installer writes (``template``), and readable as
``settings.option("section.key")``."""

from __future__ import annotations

from dataclasses import replace

from modemd.config_kinds import (
    ADDRESSES,
    BOOL,
    COUNT,
    EVENT_LOOP,
    LABEL,
    LISTEN_PORT,
    LOG_FORMAT,
    POSITIVE,
    SECONDS,
    STR,
    TCP_PORT,
    Key,
    Mapping,
    Section,
)
from modemd.config_pools import POOLS

DEFAULT_DB = "modemd.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_PIN = "1000"
REQUIRED = object()  # a key's default when the key must be given


PACING = (
    Key("min_gap_s", SECONDS, 0.0, "seconds between the end of one send and the next", "3"),
    Key("daily_cap", COUNT, None, "SMS parts per calendar day (local time), per SIM", "400"),
    Key("monthly_cap", COUNT, None, "SMS parts per calendar month (local time), per SIM", "8000"),
)
SCHEMA = Section(
    "",
    "the whole file",
    (
        Section(
            "server",
            "the HTTP API and the database",
            (
                Key("host", STR, DEFAULT_HOST, "listen address", '"0.0.0.0"'),
                Key("port", LISTEN_PORT, DEFAULT_PORT, "listen port", "8080"),
                Key(
                    "db",
                    STR,
                    DEFAULT_DB,
                    "SQLite database file, or a postgresql:// URL",
                    '"/var/lib/modemd/modemd.db"',
                ),
                Key(
                    "host_id",
                    STR,
                    None,
                    "this host's name among hosts sharing a PostgreSQL db (default: machine id)",
                    '"cupboard-2"',
                ),
                Key(
                    "host_lease_s",
                    SECONDS,
                    30.0,
                    "a host sharing the db silent this long is dead: others take over",
                    "30",
                ),
                Key(
                    "trusted_proxies",
                    ADDRESSES,
                    (),
                    "peers whose X-Forwarded-For is believed",
                    '["127.0.0.1"]',
                ),
                Key(
                    "admin_token",
                    STR,
                    None,
                    "admin API over TCP with this Bearer token (env MODEMD_ADMIN_TOKEN)",
                    '"long-random"',
                ),
                Key(
                    "admin_socket",
                    STR,
                    "/run/modemd/admin.sock",
                    "admin API on this Unix socket (mode 0660; served when its directory "
                    'exists, systemd\'s RuntimeDirectory); "" for none',
                    '"/run/modemd/admin.sock"',
                ),
                Key(
                    "failed_auth_per_minute",
                    POSITIVE,
                    10,
                    "wrong API keys or console tokens per caller address per minute; "
                    "more answer 429",
                    "10",
                ),
                Key(
                    "fast_send",
                    BOOL,
                    True,
                    "POST /api/v1/send with a plain JSON body framed by modemd (llhttp) instead "
                    "of aiohttp's per-request code; the same answers and limits",
                    "false",
                ),
                Key(
                    "metrics_token",
                    STR,
                    None,
                    "GET /metrics with this Bearer token (read-only; the admin token works too)",
                    '"another-long-random"',
                ),
                Key(
                    "tls_cert",
                    STR,
                    None,
                    "serve API and console over HTTPS with this PEM certificate (chain)",
                    '"/etc/modemd/tls/cert.pem"',
                ),
                Key(
                    "tls_key",
                    STR,
                    None,
                    "the certificate's PEM private key (both or neither)",
                    '"/etc/modemd/tls/key.pem"',
                ),
                Key(
                    "log_format",
                    LOG_FORMAT,
                    "text",
                    "log lines as text or JSON (event, job_id, device_id, pin); --log-format",
                    '"json"',
                ),
                Key(
                    "event_loop",
                    EVENT_LOOP,
                    "uvloop",
                    "the daemon's event loop: uvloop (libuv, when installed) or asyncio's own "
                    "(env MODEMD_EVENT_LOOP)",
                    '"asyncio"',
                ),
                Key(
                    "stall_trace",
                    STR,
                    None,
                    "write what stopped the event loop (collections, late wake-ups, the threads' "
                    "stacks meanwhile, the store's commits) to this JSON file at exit; for "
                    "benchmarks (env MODEMD_STALL_TRACE)",
                    '"/tmp/modemd-stalls.json"',
                ),
            ),
        ),
        Section(
            "ipn",
            "where IPNs may go: never this daemon's own API, link-local or metadata addresses",
            (
                Key(
                    "deny_loopback",
                    BOOL,
                    False,
                    "refuse IPN URLs that resolve to loopback (127.0.0.0/8, ::1)",
                    "true",
                ),
                Key(
                    "deny_private",
                    BOOL,
                    False,
                    "refuse IPN URLs that resolve to private ranges (10/8, 172.16/12, "
                    "192.168/16, fc00::/7); allowed by default: installers post to their LAN",
                    "true",
                ),
            ),
        ),
        Section(
            "limits",
            "the SMS-pumping guard: sends per API key per hour to one destination (off if unset)",
            (
                Key(
                    "per_recipient_per_hour",
                    POSITIVE,
                    None,
                    "sends to one number per key per hour; more answer blocked_destination",
                    "10",
                ),
                Key(
                    "per_prefix_per_hour",
                    POSITIVE,
                    None,
                    "sends to one number prefix (prefix_digits long) per key per hour",
                    "200",
                ),
                Key(
                    "prefix_digits",
                    POSITIVE,
                    5,
                    "digits of the prefix per_prefix_per_hour counts (+39333...: +39333)",
                    "5",
                ),
            ),
        ),
        Section(
            "devices",
            "a serial port used directly (RS-232 modem, a `modemd emulate` pty)",
            (
                Key("port", STR, REQUIRED, "the tty", '"/dev/ttyUSB2"'),
                Key("pin", LABEL, REQUIRED, "its pool", '"4711"'),
                Key(
                    "sim_pin",
                    LABEL,
                    None,
                    "the SIM's PIN; never retried after a wrong one",
                    '"1234"',
                ),
            ),
            array=True,
        ),
        Section(
            "phones",
            "an Android phone running SMSGate's local server (`url`, or found by udev by one of "
            "`serial`, `mac`, `interface`)",
            (
                Key(
                    "url",
                    STR,
                    None,
                    "a phone at a fixed address (Wi-Fi, LAN)",
                    '"http://10.0.0.2:8080"',
                ),
                Key("pin", LABEL, None, "its pool (or MODEMD_PIN from its udev rule)", '"4711"'),
                Key("password", STR, REQUIRED, "shown in the app", '"AbCd1234"'),
                Key("username", STR, "sms", "shown in the app", '"sms"'),
                Key("port", TCP_PORT, 8080, "the app's port (tethered phones)", "8080"),
                Key("pace_parts", POSITIVE, None, "SMS parts per minute (Android allows 30)", "25"),
                Key("serial", STR, None, "a tethered phone's USB serial", '"0A1B2C3D4E5F"'),
                Key("mac", STR, None, "a tethered phone's interface MAC", '"02:00:00:00:00:07"'),
                Key("interface", STR, None, "a tethered phone's interface", '"usb0"'),
                Key(
                    "webhook_url",
                    STR,
                    None,
                    "the app posts hints here (with signing_key)",
                    '"https://gw.example.com/api/v1/phones/{device_id}/webhook"',
                ),
                Key("signing_key", STR, None, "the app signs its hints with it", '"long-random"'),
            ),
            array=True,
        ),
        Section(
            "udev",
            "discovery of modems and tethered phones through udev",
            (
                Key("enabled", BOOL, False, "find labelled devices and follow hot-plug", "true"),
                Section(
                    "labels",
                    "a pin for devices no udev rule labels: one of `id_path`, `id_serial`",
                    (
                        Key(
                            "id_path",
                            STR,
                            None,
                            "the USB port (every interface below it)",
                            '"pci-0000:00:14.0-usb-0:3.1"',
                        ),
                        Key(
                            "id_serial",
                            STR,
                            None,
                            "udev's ID_SERIAL",
                            '"Quectel_EC25_0123456789AB"',
                        ),
                        Key("pin", LABEL, REQUIRED, "the pool", '"4711"'),
                    ),
                    array=True,
                ),
            ),
        ),
        Section(
            "inbound",
            "received SMS",
            (
                Key(
                    "multipart_timeout_s",
                    SECONDS,
                    86400.0,
                    "parts of a long SMS still missing this long after the first arrived: what "
                    "came goes out as one message marked incomplete (counted again from a restart)",
                    "86400",
                ),
            ),
        ),
        Section(
            "retention",
            "how long finished jobs stay in the database (the ledger always stays)",
            (
                Key(
                    "jobs_days",
                    POSITIVE,
                    None,
                    "prune finished jobs older than this many days (never `unknown` ones)",
                    "90",
                ),
                Key("batch", POSITIVE, 500, "jobs deleted per transaction", "500"),
            ),
        ),
        Mapping(
            "sim_pins",
            "<ICCID>",
            LABEL,
            "SIM PIN by ICCID; a wrong PIN is never tried twice",
            '"1234"',
        ),
        Section(
            "recovery",
            "the ladder a modem that stops answering climbs: ESC + AT, reopen, AT+CFUN=0/1, "
            "AT+CFUN=1,1, USB reset; then `failed`, retried hourly",
            (
                Key(
                    "usb_reset",
                    BOOL,
                    False,
                    "reset a hung modem over USB (USBDEVFS_RESET on its /dev/bus/usb node; the "
                    "udev rule and the unit must allow it)",
                    "true",
                ),
                Key("probe_interval_s", SECONDS, 25.0, "an idle modem is probed this often", "25"),
                Key("step_pause_s", SECONDS, 1.0, "pause between two steps", "1"),
                Key("cfun_timeout_s", SECONDS, 15.0, "wait for an answer to AT+CFUN", "15"),
                Key("module_boot_s", SECONDS, 10.0, "boot time after AT+CFUN=1,1", "10"),
                Key(
                    "return_timeout_s",
                    SECONDS,
                    60.0,
                    "a modem reset away must be back (same IMEI) within this",
                    "60",
                ),
                Key(
                    "retry_failed_s",
                    SECONDS,
                    3600.0,
                    "a failed modem climbs the ladder again after this",
                    "3600",
                ),
            ),
        ),
        Section(
            "pacing",
            "how fast every device may send (enforced before each job is taken)",
            (
                *PACING,
                Section(
                    "devices",
                    "one device (IMEI) with its own caps; a key not given is [pacing]'s",
                    tuple(replace(key, default=None) for key in PACING),
                    each="<IMEI>",
                ),
                Section(
                    "sims",
                    "one SIM (ICCID) with its own caps, in any device (before [pacing.devices])",
                    tuple(replace(key, default=None) for key in PACING),
                    each="<ICCID>",
                ),
            ),
        ),
        POOLS,
    ),
)
