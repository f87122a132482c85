"""``modemd rules`` and ``modemd surveys``: the autoresponder and surveys of a pool."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from modemd.cli.common import _table, call_api, db_option, key_option, main, url_option
from modemd.cli.lists import pin_option, read, write
from modemd.conversations.engine import RuleKind
from modemd.conversations.specs import DEFAULT_PERIOD_S, check_rule, check_survey
from modemd.store import rules, survey_results, surveys


@main.group("rules")
def rules_group() -> None:
    """Keyword rules of a pool: the automatic replies to inbound SMS."""


@rules_group.command("list")
@pin_option
@db_option
def rules_list(pin: str, db: str) -> None:
    """The pool's rules in the order they are tried."""
    columns = ["rule_id", "kind", "pattern", "priority", "period_s", "enabled", "reply"]
    _table(read(db, rules.list_rules, pin), columns)


@rules_group.command("add")
@pin_option
@click.option(
    "--kind",
    type=click.Choice([k.value for k in RuleKind]),
    required=True,
    help="exact: the whole message; prefix: its first words; regex; default: anything.",
)
@click.option("--pattern", default="", help="The keyword (exact, prefix) or the regex.")
@click.option("--reply", required=True, help="Template: {from} {text} {name} and list fields.")
@click.option("--priority", type=int, default=100, show_default=True, help="Lower first.")
@click.option(
    "--period",
    "period_s",
    type=int,
    default=DEFAULT_PERIOD_S,
    show_default=True,
    help="Seconds: at most one reply per number in this period.",
)
@click.option("--disabled", is_flag=True, help="Store it without using it yet.")
@db_option
def rules_add(
    pin: str,
    kind: str,
    pattern: str,
    reply: str,
    priority: int,
    period_s: int,
    disabled: bool,
    db: str,
) -> None:
    """Add a rule."""
    raw = {
        "kind": kind,
        "pattern": pattern,
        "reply": reply,
        "priority": priority,
        "period_s": period_s,
        "enabled": not disabled,
    }
    try:
        spec = check_rule(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    row = write(db, rules.create_rule, pin, spec)
    click.echo(f"rule {row['rule_id']} added to pool {pin}")


@rules_group.command("remove")
@pin_option
@click.argument("rule_id", type=int)
@db_option
def rules_remove(pin: str, rule_id: int, db: str) -> None:
    """Remove rule RULE_ID."""
    write(db, rules.delete_rule, pin, rule_id)
    click.echo(f"rule {rule_id} removed")


@main.group("surveys")
def surveys_group() -> None:
    """SMS surveys of a pool: questions, sessions, results."""


@surveys_group.command("list")
@pin_option
@db_option
def surveys_list(pin: str, db: str) -> None:
    """The pool's surveys with their sessions by state."""
    rows = read(db, surveys.list_surveys, pin)
    for row in rows:
        row["questions"] = len(row["questions"])
        row["sessions"] = ", ".join(f"{k} {v}" for k, v in sorted(row["sessions"].items()))
    _table(rows, ["survey_id", "name", "questions", "timeout_s", "max_retries", "sessions"])


@surveys_group.command("create")
@pin_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
def surveys_create(pin: str, file: Path, db: str) -> None:
    """A survey from a JSON FILE: {"name", "questions": [...], "timeout_s"?, "max_retries"?,
    "completion_text"?} (see README, Surveys)."""
    try:
        data: Any = json.loads(file.read_text())
        spec = check_survey(data if isinstance(data, dict) else {})
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    row = write(db, surveys.create_survey, pin, spec)
    click.echo(f"survey {row['survey_id']} {row['name']!r} created in pool {pin}")


@surveys_group.command("start")
@click.argument("survey")
@click.option("--number", "numbers", multiple=True, help="A number to ask (repeatable).")
@click.option("--list", "list_ref", default=None, help="Ask every member of this list.")
@key_option
@url_option
def surveys_start(
    survey: str, numbers: tuple[str, ...], list_ref: str | None, key: str, url: str
) -> None:
    """Start SURVEY through the running daemon (it sends the first questions)."""
    if bool(numbers) == bool(list_ref):
        raise click.UsageError("give --number (repeatable) or --list")
    payload: dict[str, Any] = {"list": list_ref} if list_ref else {"numbers": list(numbers)}
    call_api(url, f"/api/v1/surveys/{survey}/start", payload, key)


@surveys_group.command("results")
@pin_option
@click.argument("survey")
@click.option("--csv", "as_csv", is_flag=True, help="One row per respondent.")
@db_option
def surveys_results(pin: str, survey: str, as_csv: bool, db: str) -> None:
    """Counts per question and every respondent's answers."""
    found = read(db, survey_results.results, pin, survey)
    if as_csv:
        sys.stdout.write(survey_results.results_csv(found))
        return
    for q in found["questions"]:
        counts = ", ".join(f"{k}: {v}" for k, v in q.get("counts", {}).items())
        click.echo(f"Q{q['question']} {q['text']} ({q['answers']} answers) {counts}")
    _table(found["respondents"], ["number", "state", "answers"])
