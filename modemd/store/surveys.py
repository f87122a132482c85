"""Surveys per pool, their sessions (one per number, the newest wins) and answers.

A session is ``active`` until it is ``completed``, ``timed_out`` (no answer within the
survey's timeout), ``abandoned`` (invalid answers past the retries) or ``replaced`` (another
survey of the pool started for that number)."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlite_utils

from modemd.conversations.engine import Session, SurveyOutcome, SurveyStep
from modemd.conversations.questions import prompt, question_from_json
from modemd.conversations.specs import SurveySpec
from modemd.model import Job
from modemd.store.contacts import DIGITS, ConflictError, NotFoundError, all_members
from modemd.store.optouts import is_opted_out
from modemd.store.pool_events import SURVEY_ANSWERED, SURVEY_COMPLETED, add_pool_event
from modemd.store.replies import record_reply

SURVEY_COLUMNS = (
    "survey_id, pin, name, questions, timeout_s, max_retries, completion_text, created_at"
)
FINAL = ("completed", "timed_out", "abandoned", "replaced")


def _survey(db: sqlite_utils.Database, pin: str, ref: str | int) -> dict[str, Any]:
    text = str(ref).strip()
    row = db.execute(
        f"SELECT {SURVEY_COLUMNS} FROM surveys WHERE pin = ? AND name = ? COLLATE NOCASE",
        [pin, text],
    ).fetchone()
    if row is None and DIGITS.fullmatch(text):
        row = db.execute(
            f"SELECT {SURVEY_COLUMNS} FROM surveys WHERE pin = ? AND survey_id = ?",
            [pin, int(text)],
        ).fetchone()
    if row is None:
        raise NotFoundError(f"no survey {text!r} in pool {pin}")
    found = dict(zip(SURVEY_COLUMNS.split(", "), row, strict=True))
    found["questions"] = json.loads(found["questions"])
    return found


def get_survey(db: sqlite_utils.Database, pin: str, ref: str | int) -> dict[str, Any]:
    found = _survey(db, pin, ref)
    counts = db.execute(
        "SELECT state, count(*) FROM survey_sessions WHERE survey_id = ? GROUP BY state",
        [found["survey_id"]],
    )
    found["sessions"] = dict(counts.fetchall())
    return found


def list_surveys(db: sqlite_utils.Database, pin: str) -> list[dict[str, Any]]:
    ids = db.execute("SELECT survey_id FROM surveys WHERE pin = ? ORDER BY survey_id", [pin])
    return [get_survey(db, pin, r[0]) for r in ids.fetchall()]


def create_survey(db: sqlite_utils.Database, pin: str, spec: SurveySpec) -> dict[str, Any]:
    taken = db.execute(
        "SELECT 1 FROM surveys WHERE pin = ? AND name = ? COLLATE NOCASE", [pin, spec.name]
    ).fetchone()
    if taken:
        raise ConflictError(f"pool {pin} already has a survey named {spec.name!r}")
    cursor = db.execute(
        "INSERT INTO surveys (pin, name, questions, timeout_s, max_retries, completion_text, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            pin,
            spec.name,
            json.dumps([q.as_json() for q in spec.questions], ensure_ascii=False),
            spec.timeout_s,
            spec.max_retries,
            spec.completion_text,
            time.time(),
        ],
    )
    return get_survey(db, pin, int(cursor.lastrowid or 0))


def delete_survey(db: sqlite_utils.Database, pin: str, ref: str | int) -> int:
    """Delete a survey that no session ever answered (its results would go with it)."""
    survey_id = int(_survey(db, pin, ref)["survey_id"])
    answered = db.execute(
        "SELECT 1 FROM survey_answers a JOIN survey_sessions s USING (session_id) "
        "WHERE s.survey_id = ? LIMIT 1",
        [survey_id],
    ).fetchone()
    if answered:
        raise ConflictError(f"survey {ref} has answers: its results are kept")
    db.execute("DELETE FROM survey_sessions WHERE survey_id = ?", [survey_id])
    db.execute("DELETE FROM surveys WHERE survey_id = ?", [survey_id])
    return survey_id


def _end(db: sqlite_utils.Database, where: str, params: list[Any], state: str, now: float) -> int:
    cursor = db.execute(
        f"UPDATE survey_sessions SET state = ?, ended_at = ? WHERE state = 'active' AND {where}",
        [state, now, *params],
    )
    return cursor.rowcount


def start(
    db: sqlite_utils.Database, pin: str, ref: str | int, numbers: list[str], now: float
) -> tuple[list[Job], list[str]]:
    """Open a session per number (ending its other open ones: the newest wins) and queue the
    first question. Numbers that opted out are skipped; returns the jobs and the skipped."""
    survey = _survey(db, pin, ref)
    first = prompt(question_from_json(survey["questions"][0]))
    jobs, skipped = [], []
    for number in dict.fromkeys(numbers):
        if is_opted_out(db, pin, number):
            skipped.append(number)
            continue
        _end(db, "pin = ? AND number = ?", [pin, number], "replaced", now)
        cursor = db.execute(
            "INSERT INTO survey_sessions (survey_id, pin, number, state, question, retries, "
            "started_at, expires_at) VALUES (?, ?, ?, 'active', 0, 0, ?, ?)",
            [survey["survey_id"], pin, number, now, now + survey["timeout_s"]],
        )
        tag = f"survey:{cursor.lastrowid}"
        job = record_reply(
            db, pin, number, tag=tag, text=first, id_device=None, due_at=now, cause="survey start"
        )
        if job is not None:
            jobs.append(job)
    return jobs, skipped


def active_session(db: sqlite_utils.Database, pin: str, number: str, now: float) -> Session | None:
    """The number's newest open session that has not timed out."""
    row = db.execute(
        "SELECT s.session_id, s.survey_id, s.question, s.retries, v.questions, v.max_retries, "
        "v.completion_text FROM survey_sessions s JOIN surveys v USING (survey_id) "
        "WHERE s.pin = ? AND s.number = ? AND s.state = 'active' AND s.expires_at > ? "
        "ORDER BY s.session_id DESC LIMIT 1",
        [pin, number, now],
    ).fetchone()
    if row is None:
        return None
    questions = tuple(question_from_json(q) for q in json.loads(row[4]))
    return Session(row[0], row[1], questions, row[2], row[3], row[5], row[6])


def next_expiry_at(db: sqlite_utils.Database) -> float | None:
    """When the first open session times out (None: no session is open)."""
    row = db.execute(
        "SELECT min(expires_at) FROM survey_sessions WHERE state = 'active'"
    ).fetchone()
    return row[0] if row else None


def expire(db: sqlite_utils.Database, now: float) -> int:
    """Sessions with no answer within their timeout end as ``timed_out``."""
    return _end(db, "expires_at <= ?", [now], "timed_out", now)


def record_step(
    db: sqlite_utils.Database, pin: str, number: str, step: SurveyStep, raw: str, now: float
) -> None:
    """Store what the engine decided for an answer; ``survey.answered`` / ``survey.completed``."""
    timeout = db.execute(
        "SELECT timeout_s FROM surveys WHERE survey_id = ?", [step.survey_id]
    ).fetchone()[0]
    if step.outcome is SurveyOutcome.RETRY:
        db.execute(
            "UPDATE survey_sessions SET retries = retries + 1, expires_at = ? WHERE session_id = ?",
            [now + timeout, step.session_id],
        )
        return
    if step.outcome is SurveyOutcome.ABANDONED:
        _end(db, "session_id = ?", [step.session_id], "abandoned", now)
        return
    db.execute(
        "INSERT INTO survey_answers (session_id, question, value, raw, answered_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id, question) DO UPDATE SET "
        "value = excluded.value, raw = excluded.raw, answered_at = excluded.answered_at",
        [step.session_id, step.question, step.value, raw, now],
    )
    db.execute(
        "UPDATE survey_sessions SET question = ?, retries = 0, expires_at = ? WHERE session_id = ?",
        [step.question + 1, now + timeout, step.session_id],
    )
    data = {
        "survey_id": step.survey_id,
        "session_id": step.session_id,
        "number": number,
        "question": step.question + 1,
        "answer": step.value,
        "text": raw,
    }
    group = f"survey:{step.session_id}"
    add_pool_event(db, pin, SURVEY_ANSWERED, group, data)
    if step.outcome is SurveyOutcome.COMPLETED:
        _end(db, "session_id = ?", [step.session_id], "completed", now)
        answers = respondent_answers(db, step.session_id)
        add_pool_event(
            db,
            pin,
            SURVEY_COMPLETED,
            group,
            {
                "survey_id": step.survey_id,
                "session_id": step.session_id,
                "number": number,
                "answers": answers,
            },
        )


def respondent_answers(db: sqlite_utils.Database, session_id: int) -> list[str | None]:
    """The answers of one session by question (None: not answered)."""
    questions = db.execute(
        "SELECT v.questions FROM survey_sessions s JOIN surveys v USING (survey_id) "
        "WHERE s.session_id = ?",
        [session_id],
    ).fetchone()[0]
    given = dict(
        db.execute(
            "SELECT question, value FROM survey_answers WHERE session_id = ?", [session_id]
        ).fetchall()
    )
    return [given.get(i) for i in range(len(json.loads(questions)))]


def start_for_list(
    db: sqlite_utils.Database, pin: str, ref: str | int, list_ref: str | int, now: float
) -> tuple[list[Job], list[str]]:
    """``start`` for every member of a list of the pool."""
    numbers = [m["number"] for m in all_members(db, pin, list_ref)]
    return start(db, pin, ref, numbers, now)
