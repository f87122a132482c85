"""The base of the model's state enums: a ``StrEnum`` whose ``value`` is read in C."""

from __future__ import annotations

import enum
import operator
from typing import TYPE_CHECKING


class TextEnum(enum.StrEnum):
    """A ``StrEnum`` (each member a ``str``, equal to its value) whose ``value`` costs an
    attribute read: 3.11's ``Enum.value`` is a Python-level property (two Python calls, ~1,600
    instructions), read wherever a state is bound to SQL, several times a send. ``value`` is
    the plain ``str``, which sqlite3 binds without its adapters' look-up (a member, a ``str``
    subclass, goes through it)."""

    if not TYPE_CHECKING:  # (to a type checker, ``Enum.value`` as it knows it)
        value = property(operator.attrgetter("_value_"))
