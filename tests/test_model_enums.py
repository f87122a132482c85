"""The model's state enums: each member a ``str`` equal to its value, and its ``value`` the plain
``str`` read without a Python-level call (3.11's ``Enum.value``: two a read, several reads a
send where states are bound to SQL)."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import modemd.model as model
from modemd.model.enums import TextEnum

ENUMS = [cls for cls in vars(model).values() if isinstance(cls, type) and issubclass(cls, TextEnum)]


def python_calls(read: Any) -> int:
    """Python-level functions entered while ``read()`` runs."""
    entered = []

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event == "call":
            entered.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        read()
    finally:
        sys.setprofile(None)
    return len(entered) - 1  # the read's own lambda


def test_the_state_enums_are_text_enums() -> None:
    names = {cls.__name__ for cls in ENUMS}
    assert {"JobState", "DeviceState", "Lane", "EventType", "EventState"} <= names


def test_a_value_is_the_plain_str_read_without_a_python_call() -> None:
    for cls in ENUMS:
        for member in cls:
            assert type(member.value) is str and member.value == member == str(member)
            assert cls(member.value) is member
            assert python_calls(lambda m=member: m.value) == 0, member
