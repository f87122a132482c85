"""``[pools."<pin>"]``: one pool's settings (its country, its caps, and how it answers inbound
SMS), a section of ``config_schema.SCHEMA`` kept apart because it is long."""

from __future__ import annotations

from modemd.config_kinds import COUNT, COUNTRY, HOURS, NUMBERS, STR, TIMEZONE, WORDS, Key, Section
from modemd.conversations.words import DEFAULT_HELP, DEFAULT_START, DEFAULT_STOP

POOLS = Section(
    "pools",
    "one pool (pin): its country, and how it answers inbound SMS",
    (
        Key("country", COUNTRY, None, "country of national numbers texting in", '"IT"'),
        Key("daily_cap", COUNT, None, "SMS parts per day, all devices of the pool", "2000"),
        Key("monthly_cap", COUNT, None, "SMS parts per month, the whole pool", "40000"),
        Key(
            "key_daily_cap",
            COUNT,
            None,
            "SMS parts each API key of the pool may have accepted per day (more: code 9)",
            "500",
        ),
        Key(
            "key_monthly_cap",
            COUNT,
            None,
            "SMS parts each API key of the pool may have accepted per month",
            "10000",
        ),
        Key(
            "timezone",
            TIMEZONE,
            "UTC",
            "the pool's local time (quiet hours)",
            '"Europe/Rome"',
        ),
        Key(
            "quiet_hours",
            HOURS,
            None,
            "no automatic reply and no campaign (bulk-lane) job in these hours (they "
            "wait); STOP/START/HELP/JOIN replies and high-lane sends exempt",
            '"21:00-08:00"',
        ),
        Key(
            "help_text",
            STR,
            DEFAULT_HELP,
            "the answer to HELP and INFO",
            '"Info: shop.example/sms. STOP per non ricevere altri messaggi."',
        ),
        Key(
            "stop_reply",
            STR,
            DEFAULT_STOP,
            "the answer to STOP and its synonyms",
            '"Non riceverai altri messaggi. START per riattivarli."',
        ),
        Key(
            "start_reply",
            STR,
            DEFAULT_START,
            "the answer to START, UNSTOP",
            '"Riceverai di nuovo i nostri messaggi. STOP per smettere."',
        ),
        Key(
            "stop_words",
            WORDS,
            (),
            "more opt-out words (any language)",
            '["ANNULLA", "BAJA"]',
        ),
        Key("start_words", WORDS, (), "more opt-in words", '["ALTA"]'),
        Key("help_words", WORDS, (), "more help words", '["AIUTO", "AYUDA"]'),
        Key(
            "own_numbers",
            NUMBERS,
            (),
            "this pool's SIM numbers: never answered automatically (no loops)",
            '["+393330000001"]',
        ),
    ),
    each="<pin>",
)
