"""The conversation engine on plain values: keywords, JOIN/leave, rules, quiet hours, loops."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from modemd.conversations.engine import (
    Action,
    Context,
    Decision,
    Inbound,
    ListInfo,
    PoolPolicy,
    Rule,
    RuleKind,
    decide,
    quiet_until,
)
from modemd.conversations.words import (
    DEFAULT_HELP,
    DEFAULT_START,
    DEFAULT_STOP,
    check_pattern,
    regex_matches,
)

POLICY = PoolPolicy.from_config(
    {
        "help_text": DEFAULT_HELP,
        "stop_reply": DEFAULT_STOP,
        "start_reply": DEFAULT_START,
        "stop_words": ["Annulla", "BAJA"],
        "start_words": [],
        "help_words": ["aiuto"],
        "timezone": "Europe/Rome",
        "quiet_hours": None,
    }
)
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("Europe/Rome")).timestamp()
NEWS = ListInfo(1, "News", True, None)
CLOSED = ListInfo(2, "Staff only", False, None)
RULES = (
    Rule(10, RuleKind.DEFAULT, "", "Thanks {name}, we got: {text}", 100, 3600),
    Rule(11, RuleKind.EXACT, "hours", "Open 9-18", 100, 3600),
    Rule(12, RuleKind.PREFIX, "price", "Prices for {from}: see shop.example", 100, 3600),
    Rule(13, RuleKind.REGEX, r"\border\s*#?\d+", "Orders: call us", 50, 3600),
)


def ctx(**changes: object) -> Context:
    base = Context(POLICY, lists=(NEWS, CLOSED), rules=RULES, fields={"name": "Anna"})
    return replace(base, **changes)  # type: ignore[arg-type]


def said(text: str, sender: str = "+393331234567", at: float = NOON) -> Inbound:
    return Inbound("4711", sender, text, "350000990000008", at)


def check(text: str, context: Context | None = None, **kw: object) -> Decision:
    return decide(said(text, **kw), context or ctx())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["STOP", "stop", "Stop!", " s t o p 🙏", "STOPALL", "Unsubscribe.", "quit", "annulla"]
)
def test_stop_words_opt_out_whatever_the_case_spaces_and_punctuation(text: str) -> None:
    decision = check(text)
    assert decision.action is Action.OPT_OUT
    assert decision.reply is not None and decision.reply.text == DEFAULT_STOP


@pytest.mark.parametrize("text", ["please stop texting me", "stop it now", "STOPPED", "don't stop"])
def test_stop_inside_a_sentence_is_not_an_opt_out(text: str) -> None:
    assert check(text).action is not Action.OPT_OUT


def test_start_help_and_their_replies() -> None:
    assert check("UNSTOP").action is Action.OPT_IN
    assert check("start.").reply.text == DEFAULT_START  # type: ignore[union-attr]
    assert check("Info?").reply.text == DEFAULT_HELP  # type: ignore[union-attr]
    assert check("AIUTO").action is Action.HELP


def test_join_a_list_by_name_in_any_case_with_the_default_welcome() -> None:
    decision = check("join news")
    assert decision.action is Action.JOIN and decision.list_id == 1
    assert decision.reply is not None and "Welcome to News" in decision.reply.text
    assert decision.reply.text.endswith("STOP to stop all messages.")  # how to opt out
    assert check("JOIN staff-only").action is Action.NONE  # keyword joins off for that list
    custom = ctx(lists=(replace(NEWS, welcome_text="Ciao {name}!"),))
    assert check("JOIN NEWS", custom).reply.text == "Ciao Anna!"  # type: ignore[union-attr]
    assert check("JOIN NOSUCH").action is Action.RULE  # no such list: the rules have it


def test_joining_two_lists_in_a_row_welcomes_to_both() -> None:
    sports = ListInfo(3, "Sports", True, None)
    recent = ctx(lists=(NEWS, sports), last_reply_at={"join:1": NOON - 10})
    assert check("JOIN NEWS", recent).reply is None  # just welcomed to NEWS
    assert check("JOIN SPORTS", recent).reply.text.startswith("Welcome to Sports")  # type: ignore[union-attr]


def test_stop_with_a_list_name_leaves_only_that_list() -> None:
    decision = check("STOP news")
    assert decision.action is Action.LEAVE and decision.list_id == 1


def test_opted_out_numbers_get_only_answers_to_their_own_keywords() -> None:
    out = ctx(opted_out=True)
    assert check("hours", out).action is Action.NONE
    assert check("HELP", out).action is Action.HELP
    joined = check("JOIN NEWS", out)
    assert joined.action is Action.JOIN and "reply START" in joined.reply.text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sender", "why"),
    [("ACME Bank", "alphanumeric"), ("4916", "short code"), ("+393339999999", "own SIMs")],
)
def test_senders_we_never_answer(sender: str, why: str) -> None:
    own = ctx(own_numbers=frozenset({"+393339999999"}))
    decision = check("STOP", own, sender=sender)
    assert decision.action is Action.NONE and why in decision.note and decision.reply is None


def test_rules_by_kind_priority_and_default_with_placeholders() -> None:
    assert check("HOURS!").reply.text == "Open 9-18"  # type: ignore[union-attr]
    assert check("hours please").action is Action.RULE  # not exact: the default rule
    assert check("price shoes").reply.text == "Prices for +393331234567: see shop.example"  # type: ignore[union-attr]
    assert check("pricey").reply.text.startswith("Thanks Anna")  # type: ignore[union-attr]
    assert check("about my order #123 price").reply.text == "Orders: call us"  # type: ignore[union-attr]
    assert check("hello").reply.text == "Thanks Anna, we got: hello"  # type: ignore[union-attr]
    assert check("hello", ctx(rules=())).action is Action.NONE


def test_one_reply_per_number_per_rule_per_period() -> None:
    recent = ctx(last_reply_at={"rule:10": NOON - 60, "opt_out": NOON - 60})
    assert check("hello", recent).reply is None
    assert check("hours", recent).reply is not None  # another rule
    assert check("hello", recent, at=NOON + 3600).reply is not None  # the period is over
    stop = check("STOP", recent)
    assert stop.action is Action.OPT_OUT and stop.reply is None  # opted out, not re-confirmed


def test_two_gateways_answering_each_other_stop_after_one_reply() -> None:
    """Gateway A's default rule answers B's automatic reply; B answers A's once, then the
    period holds both: one automatic reply each, then silence."""
    replies_at: dict[str, dict[str, float]] = {"A": {}, "B": {}}
    text, speaker, sent = "hello", "B", []
    for step in range(6):
        listener = "A" if speaker == "B" else "B"
        decision = check(text, ctx(last_reply_at=replies_at[listener]), at=NOON + step)
        if decision.reply is None:
            break
        replies_at[listener][decision.reply.tag] = NOON + step
        sent.append(listener)
        text, speaker = decision.reply.text, listener
    assert sent == ["A", "B"]


def test_a_reply_over_ten_parts_is_not_sent() -> None:
    long_rule = (Rule(1, RuleKind.DEFAULT, "", "x" * 1600 + "{text}", 1, 60),)
    assert check("hi", ctx(rules=long_rule)).reply is None


def test_quiet_hours_delay_rule_replies_but_not_keyword_answers() -> None:
    night = replace(POLICY, quiet_hours=(time(21, 0), time(8, 0)))
    at_night = datetime(2026, 12, 1, 23, 30, tzinfo=ZoneInfo("Europe/Rome")).timestamp()
    morning = datetime(2026, 12, 2, 8, 0, tzinfo=ZoneInfo("Europe/Rome")).timestamp()
    assert quiet_until(night, at_night) == morning
    assert quiet_until(night, NOON) is None
    rule = check("hours", ctx(policy=night), at=at_night)
    assert rule.reply is not None and rule.reply.due_at == morning
    stop = check("STOP", ctx(policy=night), at=at_night)
    assert stop.reply is not None and stop.reply.due_at == at_night
    day = replace(POLICY, quiet_hours=(time(12, 0), time(14, 0)))  # not spanning midnight
    assert quiet_until(day, NOON) == NOON + 2 * 3600


def test_regex_rules_refuse_catastrophic_patterns_and_time_out_at_run_time() -> None:
    for pattern in [r"(a+)+$", r"(\w*)*x", r"(x{2,})+", "", "(unclosed", "x" * 201]:
        with pytest.raises(ValueError):
            check_pattern(pattern)
    assert regex_matches(r"(x|xx)+y", "x" * 60) is None  # not caught statically: timed out
    slow = (Rule(1, RuleKind.REGEX, r"(x|xx)+y", "never", 1, 60),)
    decision = check("x" * 60, ctx(rules=slow))
    assert decision.action is Action.NONE and "ran out of time" in decision.note
