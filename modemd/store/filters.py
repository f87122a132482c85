"""The WHERE of a filtered listing: each filter a clause with one ``?`` and its value, left out
when the value is None (not given)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["given"]


def given(filters: Iterable[tuple[str, object | None]]) -> tuple[list[str], list[object]]:
    """The clauses whose value is given, and those values in the same order."""
    clauses: list[str] = []
    values: list[object] = []
    for clause, value in filters:
        if value is not None:
            clauses.append(clause)
            values.append(value)
    return clauses, values
