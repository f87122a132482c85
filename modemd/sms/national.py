"""National language shift tables (3GPP TS 23.038 Annex A), by language id (6.2.1.2.4).

Locking shift tables: 128 characters indexed by septet, the escape at 0x1B kept as "\\x1b".
Single shift tables: septet after the escape -> character.
"""

from __future__ import annotations

LOCKING_SHIFT_TABLES: dict[int, str] = {}
SINGLE_SHIFT_TABLES: dict[int, dict[int, str]] = {}
