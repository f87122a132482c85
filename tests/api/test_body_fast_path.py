"""The send's body and text fields read on their fast paths answer exactly as before.

``json_body`` calls json's scanner itself and leaves to ``json.loads`` any body the scanner does
not read whole from its first character; ``_text`` (the key, the pin, the number, the device)
takes a plain ASCII string without the checks nothing ASCII can fail. Each is compared with the
reading it replaced, on chosen bodies and on generated ones."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from modemd.api.validation import RequestError, _text, json_body, valid_utf8


def before(raw: bytes) -> object:
    """``json_body`` as it was: ``json.loads`` of the decoded body, or its refusal."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return ("refused", f"malformed JSON: {exc}"[:200])
    if not isinstance(data, dict):
        return ("refused", "the JSON body must be an object")
    return data


def now(raw: bytes) -> object:
    try:
        return json_body(raw)
    except RequestError as exc:
        return ("refused", exc.message)


BODIES = [
    b'{"apikey": "k", "to": "+393331234567", "msg": "hi"}',
    b' {"a": 1}',  # whitespace before: json.loads skips it
    b'{"a": 1} \n',  # and after
    b'{"a": 1}{"b": 2}',  # extra data
    b'{"a": 1} x',
    b"\xef\xbb\xbf{}",  # a UTF-8 BOM
    b"",
    b"   ",
    b'{"apikey": ',  # cut short
    b"[1, 2]",
    b'"text"',
    b"3",
    b"NaN",
    b'{"a": NaN, "b": -Infinity}',
    b'{"a": "\\ud800"}',  # a lone surrogate: read, refused later by the field's check
    b'{"a": 1, "a": 2}',  # the last wins, as json.loads has it
    b"\xff{}",  # not UTF-8
    b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than the recursion limit
    b'{"n": ' + b"9" * 5000 + b"}",  # an integer longer than int() converts
]


def test_chosen_bodies_answer_as_json_loads_did() -> None:
    for raw in BODIES:
        assert now(raw) == before(raw), raw[:40]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.sampled_from(["", " ", "\n", "\t "]), st.sampled_from(["", " ", "x"]))
@example({"to": "+39333"}, "", "")
def test_generated_bodies_answer_as_json_loads_did(value: Any, lead: str, tail: str) -> None:
    raw = (lead + json.dumps(value) + tail).encode()
    assert now(raw) == before(raw)


def text_before(fields: dict[str, Any], name: str) -> object:
    """``_text`` as it was, or its refusal."""
    value = fields.get(name)
    try:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise RequestError(400, f"'{name}' must be a string")  # type: ignore[arg-type]
        if isinstance(value, int) and value < 0:
            raise RequestError(400, f"'{name}' cannot be negative")  # type: ignore[arg-type]
        return valid_utf8(str(value), name).strip()
    except RequestError as exc:
        return ("refused", exc.message)


@given(st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.lists(st.text()))
@example(" +39333 \t")
@example("\ud800")
@example("città ")
def test_text_fields_read_as_before(value: Any) -> None:
    fields = {"to": value}
    try:
        got: object = _text(fields, "to")
    except RequestError as exc:
        got = ("refused", exc.message)
    assert got == text_before(fields, "to")
