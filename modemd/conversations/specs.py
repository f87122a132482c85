"""Keyword rules and surveys as people give them (API JSON, CLI flags): checked once, when
they are made, so the engine never meets a rule it cannot run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modemd.conversations.engine import RuleKind
from modemd.conversations.questions import Question, fits, parse_questions
from modemd.conversations.words import check_pattern, words

DEFAULT_PERIOD_S = 24 * 3600  # one automatic reply per number per rule per day
MIN_PERIOD_S = 60  # below this a rule could feed a loop between two gateways
MAX_PERIOD_S = 365 * 24 * 3600
DEFAULT_SURVEY_TIMEOUT_S = 24 * 3600
DEFAULT_MAX_RETRIES = 2
DEFAULT_COMPLETION = "Thank you for your answers!"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    kind: RuleKind
    pattern: str
    reply: str
    priority: int = 100
    period_s: int = DEFAULT_PERIOD_S
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class SurveySpec:
    name: str
    questions: tuple[Question, ...]
    timeout_s: int = DEFAULT_SURVEY_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    completion_text: str = DEFAULT_COMPLETION


def _whole(data: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"'{name}' must be a whole number from {low} to {high}")
    return value


def check_reply(text: Any, what: str = "reply") -> str:
    """A reply template: not empty, at most 10 SMS parts before its placeholders are filled."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"'{what}' must be a non-empty string")
    return fits(text.strip(), f"the {what} (placeholders not counted)")


def check_rule(data: dict[str, Any]) -> RuleSpec:
    """``{"kind", "pattern"?, "reply", "priority"?, "period_s"?, "enabled"?}``."""
    try:
        kind = RuleKind(str(data.get("kind")))
    except ValueError as exc:
        raise ValueError(f"'kind' must be one of {', '.join(k.value for k in RuleKind)}") from exc
    pattern = data.get("pattern", "")
    if not isinstance(pattern, str):
        raise ValueError("'pattern' must be a string")
    pattern = pattern.strip()
    if kind is RuleKind.REGEX:
        check_pattern(pattern)
    elif kind is RuleKind.DEFAULT:
        pattern = ""
    elif not words(pattern):
        raise ValueError(f"a {kind} rule needs a keyword (letters or digits) as 'pattern'")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError("'enabled' must be true or false")
    reply = check_reply(data.get("reply"))
    return RuleSpec(
        kind,
        pattern,
        reply,
        _whole(data, "priority", 100, 0, 10_000),
        _whole(data, "period_s", DEFAULT_PERIOD_S, MIN_PERIOD_S, MAX_PERIOD_S),
        enabled,
    )


def check_survey(data: dict[str, Any]) -> SurveySpec:
    """``{"name", "questions": [...], "timeout_s"?, "max_retries"?, "completion_text"?}``."""
    name = data.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64:
        raise ValueError("'name' must be 1 to 64 characters")
    completion = data.get("completion_text", DEFAULT_COMPLETION)
    if not isinstance(completion, str):
        raise ValueError("'completion_text' must be a string ('' sends nothing)")
    if completion.strip():
        check_reply(completion, "completion_text")
    return SurveySpec(
        name.strip(),
        parse_questions(data.get("questions")),
        _whole(data, "timeout_s", DEFAULT_SURVEY_TIMEOUT_S, 60, 30 * 24 * 3600),
        _whole(data, "max_retries", DEFAULT_MAX_RETRIES, 0, 10),
        completion.strip(),
    )
