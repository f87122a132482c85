"""Results of a survey: counts per question and every respondent's answers (JSON or CSV)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from modemd.store.surveys import get_survey


def results(db: sqlite_utils.Database, pin: str, ref: str | int) -> dict[str, Any]:
    """``questions``: each with its answer counts; ``respondents``: each session's answers."""
    survey = get_survey(db, pin, ref)
    sessions = db.execute(
        "SELECT session_id, number, state, started_at, ended_at FROM survey_sessions "
        "WHERE survey_id = ? ORDER BY session_id",
        [survey["survey_id"]],
    ).fetchall()
    answers: dict[int, dict[int, str]] = {}
    for session_id, question, value in db.execute(
        "SELECT a.session_id, a.question, a.value FROM survey_answers a "
        "JOIN survey_sessions s USING (session_id) WHERE s.survey_id = ?",
        [survey["survey_id"]],
    ):
        answers.setdefault(session_id, {})[question] = value
    questions = []
    for index, question in enumerate(survey["questions"]):
        given = [a[index] for a in answers.values() if index in a]
        counts = Counter(given)
        if question["type"] == "choice":
            counts = Counter({k: counts.get(k, 0) for k in question["choices"]})
        elif question["type"] == "yes_no":
            counts = Counter({"yes": counts.get("yes", 0), "no": counts.get("no", 0)})
        item: dict[str, Any] = {
            "question": index + 1,
            "type": question["type"],
            "text": question["text"],
            "answers": len(given),
        }
        if question["type"] != "text":
            item["counts"] = dict(counts)
        if question["type"] == "number" and given:
            numbers = [float(v) for v in given]
            item["mean"] = sum(numbers) / len(numbers)
        questions.append(item)
    respondents = [
        {
            "session_id": session_id,
            "number": number,
            "state": state,
            "started_at": started_at,
            "ended_at": ended_at,
            "answers": [answers.get(session_id, {}).get(i) for i in range(len(questions))],
        }
        for session_id, number, state, started_at, ended_at in sessions
    ]
    return {
        "survey_id": survey["survey_id"],
        "name": survey["name"],
        "sessions": survey["sessions"],
        "questions": questions,
        "respondents": respondents,
    }


def results_csv(found: dict[str, Any]) -> str:
    """One row per respondent: number, state, then one column per question (q1, q2 ...)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = [f"q{q['question']}" for q in found["questions"]]
    writer.writerow(["number", "state", "started_at", "ended_at", *columns])
    for r in found["respondents"]:
        cells = ["" if a is None else a for a in r["answers"]]
        started, ended = _iso(r["started_at"]), _iso(r["ended_at"])
        writer.writerow([r["number"], r["state"], started, ended, *cells])
    return out.getvalue()


def _iso(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
