"""Survey questions: their definitions (checked once, when the survey is made), how each is
asked, and what counts as a valid answer."""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from modemd.conversations.words import squash, words
from modemd.sms.encoding import split_message

MAX_QUESTIONS = 20
MAX_PARTS = 10  # a question, a retry prompt or an automatic reply: at most 10 SMS parts
MAX_TEXT_ANSWER_CHARS = 1000
YES = frozenset({"YES", "Y", "SI", "SÌ", "SÍ", "OUI", "JA", "SIM", "OK"})
NO = frozenset({"NO", "N", "NON", "NEIN", "NAO", "NÃO", "NEE"})


class QuestionType(enum.StrEnum):
    CHOICE = "choice"  # one of keys such as A/B/C (or the choice's own text)
    YES_NO = "yes_no"  # yes or no, in a few languages
    NUMBER = "number"  # a number, optionally within [min, max]
    TEXT = "text"  # anything that is not empty


@dataclass(frozen=True, slots=True)
class Question:
    type: QuestionType
    text: str
    choices: dict[str, str] = field(default_factory=dict)  # key (A) -> label (Red)
    min: float | None = None
    max: float | None = None
    retry_text: str | None = None  # None: the default hint followed by the question

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {})}


def reply_size(text: str) -> tuple[int, str]:
    """The SMS parts and encoding of a reply's text: what its job is recorded with."""
    split = split_message(text)
    return split.count, split.encoding.value


def fits(text: str, what: str) -> str:
    """``text`` if it fits in ``MAX_PARTS`` SMS parts, else ``ValueError`` naming ``what``."""
    parts = split_message(text).count
    if parts > MAX_PARTS:
        raise ValueError(f"{what} needs {parts} SMS parts; at most {MAX_PARTS}")
    return text


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"'{name}' must be a number")
    return float(value)


def parse_question(raw: Any, position: int) -> Question:
    """One question from JSON: ``{"type", "text", "choices"?, "min"?, "max"?, "retry_text"?}``."""
    where = f"question {position + 1}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be an object")
    try:
        kind = QuestionType(str(raw.get("type")))
    except ValueError as exc:
        types = ", ".join(t.value for t in QuestionType)
        raise ValueError(f"{where}: 'type' must be one of {types}") from exc
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: 'text' must be a non-empty string")
    retry = raw.get("retry_text")
    if retry is not None and (not isinstance(retry, str) or not retry.strip()):
        raise ValueError(f"{where}: 'retry_text' must be a non-empty string")
    choices: dict[str, str] = {}
    if kind is QuestionType.CHOICE:
        given = raw.get("choices")
        if not isinstance(given, dict) or not 2 <= len(given) <= 26:
            raise ValueError(f"{where}: 'choices' must map 2 to 26 keys to labels")
        for key, label in given.items():
            if not squash(key) or squash(key) != key.strip().upper():
                raise ValueError(f"{where}: choice key {key!r} must be letters or digits")
            if not isinstance(label, str) or not label.strip():
                raise ValueError(f"{where}: choice {key!r} needs a label")
            choices[squash(key)] = label.strip()
    low, high = _number(raw.get("min"), "min"), _number(raw.get("max"), "max")
    if low is not None and high is not None and low > high:
        raise ValueError(f"{where}: 'min' is above 'max'")
    question = Question(kind, text.strip(), choices, low, high, retry.strip() if retry else None)
    fits(prompt(question), f"{where}'s text")
    fits(retry_prompt(question), f"{where}'s retry prompt")
    return question


def parse_questions(raw: Any) -> tuple[Question, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_QUESTIONS:
        raise ValueError(f"'questions' must be a list of 1 to {MAX_QUESTIONS} questions")
    return tuple(parse_question(q, i) for i, q in enumerate(raw))


def _bounds(q: Question) -> str:
    def show(x: float) -> str:
        return str(int(x)) if x.is_integer() else str(x)

    if q.min is not None and q.max is not None:
        return f"a number from {show(q.min)} to {show(q.max)}"
    if q.min is not None:
        return f"a number from {show(q.min)}"
    if q.max is not None:
        return f"a number up to {show(q.max)}"
    return "a number"


def prompt(q: Question) -> str:
    """The SMS that asks ``q``."""
    if q.type is QuestionType.CHOICE:
        return q.text + "\n" + "\n".join(f"{k}) {label}" for k, label in q.choices.items())
    if q.type is QuestionType.YES_NO:
        return f"{q.text} (YES/NO)"
    if q.type is QuestionType.NUMBER:
        return f"{q.text} ({_bounds(q)})"
    return q.text


def retry_prompt(q: Question) -> str:
    """The SMS after an answer that does not fit ``q``."""
    if q.retry_text:
        return q.retry_text
    hint = {
        QuestionType.CHOICE: "Please answer with " + ", ".join(q.choices) + ".",
        QuestionType.YES_NO: "Please answer YES or NO.",
        QuestionType.NUMBER: f"Please answer with {_bounds(q)}.",
        QuestionType.TEXT: "Please answer with some text.",
    }[q.type]
    return f"{hint}\n{prompt(q)}"


def answer(q: Question, text: str) -> str | None:
    """The normalised answer (choice key, ``yes``/``no``, the number, the text), or None when
    ``text`` does not answer ``q``."""
    if q.type is QuestionType.CHOICE:
        given = squash(text)
        for key, label in q.choices.items():
            if given in (key, squash(label)):
                return key
        return None
    if q.type is QuestionType.YES_NO:
        said = words(text)
        if len(said) != 1:
            return None
        return "yes" if said[0] in YES else "no" if said[0] in NO else None
    if q.type is QuestionType.NUMBER:
        try:
            value = float(text.strip().replace(",", "."))
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        if (q.min is not None and value < q.min) or (q.max is not None and value > q.max):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    stripped = text.strip()
    return stripped[:MAX_TEXT_ANSWER_CHARS] if stripped else None


def question_from_json(raw: dict[str, Any]) -> Question:
    """A question as stored (already checked)."""
    return Question(
        QuestionType(raw["type"]),
        raw["text"],
        dict(raw.get("choices", {})),
        raw.get("min"),
        raw.get("max"),
        raw.get("retry_text"),
    )
