"""The WHERE of a filtered listing: each filter a clause with one ``?`` and its value, left out
when the value is None (not given)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["created_within", "given"]


def given(filters: Iterable[tuple[str, object | None]]) -> tuple[list[str], list[object]]:
    """The clauses whose value is given, and those values in the same order."""
    clauses: list[str] = []
    values: list[object] = []
    for clause, value in filters:
        if value is not None:
            clauses.append(clause)
            values.append(value)
    return clauses, values


# The jobs of every key: every job's, as ``jobs.key_id`` references ``api_keys`` (foreign keys
# on) and keys are revoked, never deleted.
_EVERY_KEY = "key_id IN (SELECT key_id FROM api_keys)"


def created_within(since: float | None, until: float | None) -> tuple[str, list[object]]:
    """The WHERE of the jobs created in ``[since, until)`` (None: no bound; one is given), and
    its values: the same jobs, found in ``seq`` order between the least and the greatest
    ``seq`` created in it. There is no index of jobs by time alone (``jobs_created`` went,
    migration 027: every accept wrote it); the bounds read ``jobs_key_created`` alone, key by
    key, and the rows are then read in the table's order (reading them key by key through
    that index visits each page of the table once per key: 5-9 times slower on 50 keys)."""
    window, values = given((("created_at >= ?", since), ("created_at < ?", until)))
    inside = " AND ".join(window)
    bounds = [
        f"seq {op} (SELECT {of}(seq) FROM jobs WHERE {_EVERY_KEY} AND {inside})"
        for op, of, bound in ((">=", "min", since), ("<=", "max", until))
        if bound is not None
    ]
    return " AND ".join([*bounds, inside]), values * (len(bounds) + 1)
