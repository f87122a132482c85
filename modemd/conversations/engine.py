"""What to do with one inbound SMS, decided from plain values (no I/O, no clock of its own).

Order, first match wins: a sender we must never answer (alphanumeric, short code, one of our
own SIMs) -> nothing; STOP words -> opt out; START words -> opt in; HELP words -> help text;
``STOP <list>`` -> leave that list; ``JOIN <list>`` -> join it; an open survey session -> its
answer; keyword rules (exact, prefix, regex by priority, then default). A keyword is the whole
message with case, spaces, punctuation and emoji ignored: ``"Stop!"`` and ``"s t o p 🙏"`` opt
out, ``"please stop texting me"`` does not (see README, "Decisions")."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from modemd.conversations import questions as q
from modemd.conversations.words import (
    DEFAULT_HELP,
    DEFAULT_START,
    DEFAULT_STOP,
    HELP_WORDS,
    JOIN_WORD,
    START_WORDS,
    STOP_WORDS,
    regex_matches,
    render,
    squash,
    word_set,
    words,
)

MAX_SHORT_CODE_DIGITS = 6  # 4916, 12345: services, never people; never answered
SYSTEM_REPLY_PERIOD_S = 300  # STOP/START/HELP/JOIN confirmations: one per number per keyword


class Action(enum.StrEnum):
    NONE = "none"  # nothing to do (and why is in ``note``)
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    JOIN = "join"
    LEAVE = "leave"
    SURVEY = "survey"
    RULE = "rule"


class RuleKind(enum.StrEnum):
    EXACT = "exact"  # the whole message is the keyword
    PREFIX = "prefix"  # the message starts with the keyword's words (``PRICE shoes``)
    REGEX = "regex"  # a regular expression found anywhere in the text (case-insensitive)
    DEFAULT = "default"  # any message no other rule took


class SurveyOutcome(enum.StrEnum):
    ANSWERED = "answered"  # valid answer; the next question follows
    COMPLETED = "completed"  # valid answer to the last question
    RETRY = "retry"  # invalid answer; the retry prompt follows
    ABANDONED = "abandoned"  # invalid again after the last retry: the session ends, silently


@dataclass(frozen=True, slots=True)
class Inbound:
    pin: str
    sender: str  # E.164 when a number, else as received (alphanumeric, short code)
    text: str
    device_id: str | None  # the device that received it
    received_at: float  # Unix seconds


@dataclass(frozen=True, slots=True)
class PoolPolicy:
    """A pool's ``[pools."<pin>"]`` settings, as the engine needs them."""

    help_text: str = DEFAULT_HELP
    stop_reply: str = DEFAULT_STOP
    start_reply: str = DEFAULT_START
    stop_words: frozenset[str] = STOP_WORDS
    start_words: frozenset[str] = START_WORDS
    help_words: frozenset[str] = HELP_WORDS
    timezone: str = "UTC"
    quiet_hours: tuple[time, time] | None = None  # [start, end) local time; may span midnight
    country: str | None = None  # ISO region of national numbers texting in (IT)

    @classmethod
    def from_config(cls, table: dict[str, object]) -> PoolPolicy:
        """From the config's ``[pools."<pin>"]`` table (schema-checked; a key absent, or the
        whole table for a pool the file does not name: the defaults)."""
        hours = table.get("quiet_hours")
        quiet = None
        if isinstance(hours, str):
            start, end = (time.fromisoformat(h) for h in hours.split("-"))
            quiet = (start, end)
        return cls(
            help_text=str(table.get("help_text") or DEFAULT_HELP),
            stop_reply=str(table.get("stop_reply") or DEFAULT_STOP),
            start_reply=str(table.get("start_reply") or DEFAULT_START),
            stop_words=word_set(STOP_WORDS, table.get("stop_words") or ()),  # type: ignore[arg-type]
            start_words=word_set(START_WORDS, table.get("start_words") or ()),  # type: ignore[arg-type]
            help_words=word_set(HELP_WORDS, table.get("help_words") or ()),  # type: ignore[arg-type]
            timezone=str(table.get("timezone") or "UTC"),
            quiet_hours=quiet,
            country=str(table["country"]) if table.get("country") else None,
        )


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: int
    kind: RuleKind
    pattern: str
    reply: str  # template
    priority: int = 100
    period_s: int = 86400

    @property
    def tag(self) -> str:
        return f"rule:{self.rule_id}"


@dataclass(frozen=True, slots=True)
class ListInfo:
    list_id: int
    name: str
    keyword_join: bool
    welcome_text: str | None


@dataclass(frozen=True, slots=True)
class Session:
    """The sender's newest open survey session of the pool."""

    session_id: int
    survey_id: int
    questions: tuple[q.Question, ...]
    question: int  # index awaiting its answer
    retries: int  # retry prompts already sent for it
    max_retries: int
    completion_text: str


@dataclass(frozen=True, slots=True)
class Context:
    """What the store knows about the sender, read before deciding."""

    policy: PoolPolicy
    opted_out: bool = False
    lists: tuple[ListInfo, ...] = ()
    rules: tuple[Rule, ...] = ()
    session: Session | None = None
    last_reply_at: dict[str, float] = field(default_factory=dict)  # reply tag -> newest
    fields: dict[str, str] = field(default_factory=dict)  # name and list fields (placeholders)
    own_numbers: frozenset[str] = frozenset()  # the pool's SIMs, when known


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    tag: str  # what the once-per-period limit counts: stop, start, help, join, rule:<id> ...
    due_at: float  # now, or the end of quiet hours


@dataclass(frozen=True, slots=True)
class SurveyStep:
    session_id: int
    survey_id: int
    question: int  # the question answered (or retried)
    outcome: SurveyOutcome
    value: str | None  # the normalised answer, None when invalid


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    note: str  # why, for the log
    reply: Reply | None = None
    list_id: int | None = None  # JOIN / STOP <list>
    survey: SurveyStep | None = None


def replyable(sender: str, own: frozenset[str]) -> str | None:
    """Why ``sender`` must never get an automatic reply, or None."""
    if not sender.startswith("+") or not sender[1:].isdigit():
        digits = sender.isdigit()
        if digits and len(sender) <= MAX_SHORT_CODE_DIGITS:
            return "a short code"
        return None if digits else "an alphanumeric sender"
    if sender in own:
        return "one of our own SIMs"
    return None


def quiet_until(policy: PoolPolicy, now: float) -> float | None:
    """The end of the quiet hours ``now`` falls in, or None."""
    if policy.quiet_hours is None:
        return None
    start, end = policy.quiet_hours
    local = datetime.fromtimestamp(now, ZoneInfo(policy.timezone))
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start <= end else (clock >= start or clock < end)
    if not inside:
        return None
    wake = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if wake <= local:
        wake += timedelta(days=1)
    return wake.timestamp()


def _reply(
    msg: Inbound, ctx: Context, text: str, tag: str, period_s: float, exempt: bool
) -> Reply | None:
    """The reply, unless this number got one for ``tag`` within ``period_s``."""
    last = ctx.last_reply_at.get(tag)
    if last is not None and msg.received_at - last < period_s:
        return None
    values = {**ctx.fields, "from": msg.sender, "text": msg.text}
    rendered = render(text, values).strip()
    if not rendered:
        return None
    try:
        q.fits(rendered, "the reply")
    except ValueError:
        return None
    due = None if exempt else quiet_until(ctx.policy, msg.received_at)
    return Reply(rendered, tag, due or msg.received_at)


def _system(
    msg: Inbound, ctx: Context, action: Action, text: str, note: str, list_id: int | None = None
) -> Decision:
    """An answer to the person's own keyword; once per keyword (and list) per 5 minutes."""
    tag = action.value if list_id is None else f"{action.value}:{list_id}"
    reply = _reply(msg, ctx, text, tag, SYSTEM_REPLY_PERIOD_S, exempt=True)
    return Decision(action, note if reply else f"{note}; confirmed recently", reply, list_id)


def _welcome(item: ListInfo) -> str:
    return item.welcome_text or (
        f"Welcome to {item.name}! Reply STOP {item.name} to leave it, STOP to stop all messages."
    )


def _find_list(ctx: Context, name_words: list[str]) -> ListInfo | None:
    wanted = "".join(name_words)
    return next((item for item in ctx.lists if squash(item.name) == wanted), None)


def _survey(msg: Inbound, ctx: Context, session: Session) -> Decision:
    question = session.questions[session.question]
    value = q.answer(question, msg.text)
    base = {"session_id": session.session_id, "survey_id": session.survey_id}
    tag = f"survey:{session.session_id}"
    if value is None:
        if session.retries >= session.max_retries:
            step = SurveyStep(
                **base, question=session.question, outcome=SurveyOutcome.ABANDONED, value=None
            )
            return Decision(Action.SURVEY, "invalid answer after the last retry", survey=step)
        step = SurveyStep(
            **base, question=session.question, outcome=SurveyOutcome.RETRY, value=None
        )
        reply = _reply(msg, ctx, q.retry_prompt(question), tag, 0, exempt=True)
        return Decision(Action.SURVEY, "invalid answer: retry prompt", reply, survey=step)
    last = session.question + 1 >= len(session.questions)
    outcome = SurveyOutcome.COMPLETED if last else SurveyOutcome.ANSWERED
    step = SurveyStep(**base, question=session.question, outcome=outcome, value=value)
    text = session.completion_text if last else q.prompt(session.questions[session.question + 1])
    reply = _reply(msg, ctx, text, tag, 0, exempt=True) if text else None
    return Decision(Action.SURVEY, f"answer {value!r}", reply, survey=step)


def _rule_matches(rule: Rule, msg: Inbound, said: list[str]) -> bool | None:
    if rule.kind is RuleKind.EXACT:
        return squash(msg.text) == squash(rule.pattern)
    if rule.kind is RuleKind.PREFIX:
        keyword = words(rule.pattern)
        return bool(keyword) and said[: len(keyword)] == keyword
    if rule.kind is RuleKind.REGEX:
        return regex_matches(rule.pattern, msg.text)
    return True


def _rules(msg: Inbound, ctx: Context) -> Decision:
    said = words(msg.text)
    ordered = sorted(ctx.rules, key=lambda r: (r.kind is RuleKind.DEFAULT, r.priority, r.rule_id))
    slow = []
    for rule in ordered:
        matched = _rule_matches(rule, msg, said)
        if matched is None:
            slow.append(rule.rule_id)
            continue
        if matched:
            reply = _reply(msg, ctx, rule.reply, rule.tag, rule.period_s, exempt=False)
            note = f"{rule.kind} rule {rule.rule_id}"
            if reply is None:
                note += ": replied within its period (or an empty or over-long reply)"
            return Decision(Action.RULE, note, reply)
    note = "no rule matched" + (f" (regex rules {slow} ran out of time)" if slow else "")
    return Decision(Action.NONE, note)


def decide(msg: Inbound, ctx: Context) -> Decision:
    """The decision for ``msg`` (see the module docstring for the order)."""
    why_not = replyable(msg.sender, ctx.own_numbers)
    if why_not is not None:
        return Decision(Action.NONE, f"never answered: {why_not}")
    policy, keyword, said = ctx.policy, squash(msg.text), words(msg.text)
    if keyword in policy.stop_words:
        return _system(msg, ctx, Action.OPT_OUT, policy.stop_reply, "opt-out keyword")
    if keyword in policy.start_words:
        return _system(msg, ctx, Action.OPT_IN, policy.start_reply, "opt-in keyword")
    if keyword in policy.help_words:
        return _system(msg, ctx, Action.HELP, policy.help_text, "help keyword")
    if len(said) > 1 and said[0] in policy.stop_words and (item := _find_list(ctx, said[1:])):
        text = f"You left {item.name}. Reply STOP to stop all messages."
        return _system(msg, ctx, Action.LEAVE, text, f"leave {item.name}", list_id=item.list_id)
    if len(said) > 1 and said[0] == JOIN_WORD and (item := _find_list(ctx, said[1:])):
        if not item.keyword_join:
            return Decision(Action.NONE, f"list {item.name} does not take JOIN")
        text = _welcome(item)
        if ctx.opted_out:
            text = f"{text} You opted out of all our messages: reply START to receive them."
        return _system(msg, ctx, Action.JOIN, text, f"join {item.name}", list_id=item.list_id)
    if ctx.opted_out:
        return Decision(Action.NONE, "opted out: no automatic reply")
    if ctx.session is not None:
        return _survey(msg, ctx, ctx.session)
    return _rules(msg, ctx)
