"""How a person's text is read: keywords with case, spaces, punctuation and emoji ignored;
reply templates with placeholders; regular expressions that cannot hang the daemon."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by the first regex rule: a daemon without one never loads it
    import regex

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
JOIN_WORD = "JOIN"
DEFAULT_HELP = "Reply STOP to stop receiving messages, START to receive them again."
DEFAULT_STOP = "You will receive no more messages from this number. Reply START to undo."
DEFAULT_START = "You will receive messages from this number again. Reply STOP to stop."
MAX_PATTERN_CHARS = 200
REGEX_TIMEOUT_S = 0.05  # a rule's regex on one SMS (<= 1600 chars); past it the rule is skipped
# A group that holds a quantifier and is itself quantified: (a+)+, (\w*)*, (x{2,})+ ...
NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)[+*{]")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def squash(text: str) -> str:
    """Letters and digits only, upper case: ``" Stop!! 🙏"`` -> ``"STOP"``."""
    return "".join(c for c in text.upper() if unicodedata.category(c)[0] in "LN")


def words(text: str) -> list[str]:
    """The words of ``text``, upper case, punctuation and emoji dropped."""
    return [w for w in (squash(part) for part in text.split()) if w]


def word_set(base: Iterable[str], extra: Iterable[str]) -> frozenset[str]:
    return frozenset(squash(w) for w in (*base, *extra) if squash(w))


def render(template: str, values: Mapping[str, str]) -> str:
    """``{name}`` replaced by ``values[name]``; a placeholder without a value becomes ''."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)


def check_pattern(pattern: str) -> regex.Pattern[str]:
    """A rule's regular expression, compiled; ``ValueError`` for one that does not compile, is
    too long, or nests quantifiers (catastrophic backtracking: ``(a+)+$``)."""
    if not pattern or len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"a regex rule needs a pattern of 1 to {MAX_PATTERN_CHARS} characters")
    if NESTED_QUANTIFIER.search(pattern):
        raise ValueError(
            f"pattern {pattern!r} nests quantifiers (like (a+)+): it could take seconds on one "
            "SMS; write it without the inner or the outer repetition"
        )
    import regex

    try:
        return regex.compile(pattern, regex.IGNORECASE | regex.V0)
    except regex.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from exc


def regex_matches(pattern: str, text: str) -> bool | None:
    """Does ``pattern`` match anywhere in ``text``? None when it ran out of time."""
    try:
        return check_pattern(pattern).search(text, timeout=REGEX_TIMEOUT_S) is not None
    except TimeoutError:
        return None
