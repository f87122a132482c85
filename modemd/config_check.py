"""The config file against ``SCHEMA``: validation with file, line and "did you mean", and the
documents rendered from the schema (the README's reference, the installed template)."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

from modemd.config_kinds import Invalid, Key, Mapping, Node, Section
from modemd.config_schema import REQUIRED, SCHEMA
from modemd.errors import ConfigError

_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _names(dotted: str) -> list[str]:
    return [n[1:-1] if n[0] in "\"'" else n for n in re.findall(_KEY, dotted)]


def line_numbers(text: str) -> dict[tuple[Any, ...], int]:
    """Where each table header and key first appears; array tables carry their index."""
    lines: dict[tuple[Any, ...], int] = {}
    arrays: dict[tuple[str, ...], int] = {}
    current: tuple[Any, ...] = ()
    in_string = False
    for number, line in enumerate(text.splitlines(), 1):
        if in_string:
            in_string = (line.count('"""') + line.count("'''")) % 2 == 0
            continue
        header = _HEADER.match(line)
        assign = None if header else _ASSIGN.match(line)
        if header:
            names = _names(header[2])
            if header[1] == "[[":
                arrays[tuple(names)] = arrays.get(tuple(names), -1) + 1
            resolved: list[Any] = []
            for i in range(len(names)):
                resolved.append(names[i])
                lines.setdefault(tuple(resolved), number)
                if tuple(names[: i + 1]) in arrays:
                    resolved.append(arrays[tuple(names[: i + 1])])
                    lines.setdefault(tuple(resolved), number)
            current = tuple(resolved)
        elif assign:
            names = _names(assign[1])
            for i in range(len(names)):
                lines.setdefault((*current, *names[: i + 1]), number)
        in_string = (line.count('"""') + line.count("'''")) % 2 == 1
    return lines


def dotted(path: tuple[Any, ...]) -> str:
    """``phones[0].port``, ``pacing.devices."35 0"``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _BARE.fullmatch(part) else json.dumps(part)
            text += f".{name}" if text else name
    return text


def _header(node: Node, path: tuple[Any, ...]) -> str:
    name = dotted((*(p for p in path if not isinstance(p, int)), node.name))
    if isinstance(node, Section) and node.array:
        return f"[[{name}]]"
    return name if isinstance(node, Key) else f"[{name}]"


class _Checker:
    def __init__(self, text: str) -> None:
        self.lines = line_numbers(text)
        self.problems: list[tuple[tuple[Any, ...], str]] = []

    def problem(self, path: tuple[Any, ...], message: str) -> None:
        self.problems.append((path, message))

    def line(self, path: tuple[Any, ...]) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def table(self, section: Section, table: Any, path: tuple[Any, ...]) -> dict[str, Any]:
        if not isinstance(table, dict):
            self.problem(path, f"{dotted(path)} must be a table ({_header(section, path[:-1])})")
            table = {}
        entries = {node.name: node for node in section.entries}
        out: dict[str, Any] = {}
        for name, value in table.items():
            node = entries.get(name)
            if node is None:
                self.unknown(section, name, value, path)
            else:
                out[name] = self.value(node, value, (*path, name))
        for name, node in entries.items():
            if name not in table:
                if isinstance(node, Key) and node.default is REQUIRED:
                    self.problem(path, f"{dotted(path) or 'the file'} needs a '{name}'")
                out[name] = self.absent(node, (*path, name))
        return out

    def absent(self, node: Node, path: tuple[Any, ...]) -> Any:
        if isinstance(node, Key):
            return None if node.default is REQUIRED else node.default
        if isinstance(node, Section) and not node.array and not node.each:
            return self.table(node, {}, path)
        return [] if isinstance(node, Section) and node.array else {}

    def value(self, node: Node, value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(node, Key):
            return self.checked(node.kind.check, value, path)
        if isinstance(node, Mapping):
            if not isinstance(value, dict):
                self.problem(path, f"{dotted(path)} must be a table of {node.each} = value")
                return {}
            return {k: self.checked(node.kind.check, v, (*path, k)) for k, v in value.items()}
        if node.array:
            if not isinstance(value, list):
                self.problem(path, f"{dotted(path)} must be {_header(node, path[:-1])} tables")
                return []
            return [self.table(node, item, (*path, i)) for i, item in enumerate(value)]
        if node.each:
            if not isinstance(value, dict):
                self.problem(path, f"{dotted(path)} must be a table")
                return {}
            return {name: self.table(node, table, (*path, name)) for name, table in value.items()}
        return self.table(node, value, path)

    def checked(self, check: Any, value: Any, path: tuple[Any, ...]) -> Any:
        try:
            return check(value)
        except Invalid as exc:
            self.problem(path, f"{dotted(path)} must be {exc} (not {_toml(value)})")
            return None

    def unknown(self, section: Section, name: str, value: Any, path: tuple[Any, ...]) -> None:
        is_table = isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        )
        what = "section" if is_table else "key"
        shown = dotted((*path, name))
        if is_table:
            shown = f"[[{shown}]]" if isinstance(value, list) else f"[{shown}]"
        import difflib  # only for a config with a mistake in it: not on every start's way

        close = difflib.get_close_matches(name, [n.name for n in section.entries], n=1)
        nodes = [n for n in section.entries if close and n.name == close[0]]
        hint = f" (did you mean {_header(nodes[0], path)}?)" if nodes else ""
        self.problem((*path, name), f"unknown {what} {shown}{hint}")


def validate(data: dict[str, Any], text: str, source: str) -> dict[str, Any]:
    """The document with every default filled in; ConfigError lists every problem found."""
    checker = _Checker(text)
    checked = checker.table(SCHEMA, data, ())
    if checker.problems:
        raise ConfigError(
            "\n".join(
                f"config {source}{_at(checker.line(path))}: {message}"
                for path, message in checker.problems
            )
        )
    return checked


def defaults() -> dict[str, Any]:
    """The document of an empty (or absent) file."""
    return _Checker("").table(SCHEMA, {}, ())


def _at(line: int | None) -> str:
    return "" if line is None else f":{line}"


def _toml(value: Any) -> str:
    if value is REQUIRED:
        return "required"
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def _walk(section: Section, path: tuple[str, ...] = ()) -> list[tuple[str, Node, str]]:
    """(header or key name, node, its section's dotted name) depth first, as declared."""
    rows: list[tuple[str, Node, str]] = []
    for node in section.entries:
        if isinstance(node, Key):
            rows.append((node.name, node, dotted(path)))
            continue
        name = dotted((*path, node.name))
        if isinstance(node, Mapping):
            rows.append((f"[{name}]", node, name))
            continue
        inner = (*path, node.name, *([node.each] if node.each else []))
        name = dotted(inner)
        rows.append((f"[[{name}]]" if node.array else f"[{name}]", node, name))
        rows += _walk(node, inner)
    return rows


def reference_markdown() -> str:
    """The README's "Configuration reference" table."""
    out = ["| key | default | example | what it is |", "|---|---|---|---|"]
    for header, node, _ in _walk(SCHEMA):
        if isinstance(node, Section):
            out.append(f"| **`{header}`** | | | {node.help} |")
        elif isinstance(node, Mapping):
            out.append(f"| **`{header}`** | | | {node.help} |")
            out.append(f'| `"{node.each}"` | | `{node.example}` | {node.kind.words} |')
        else:
            default = _toml(node.default)
            out.append(f"| `{node.name}` | `{default}` | `{node.example}` | {node.help} |")
    return "\n".join(out) + "\n"


def template(values: dict[str, str] | None = None) -> str:
    """A commented config file: every key at its default (or an example when it has none).

    ``values`` ("server.db" -> TOML text) are written uncommented, in uncommented sections."""
    values = dict(values or {})
    out = [
        "# modemd configuration (TOML): every section and key modemd knows, commented out.",
        "# A key shows its default (or, when it has none, an example). Unknown keys are errors.",
        "# Check this file with: modemd config check /etc/modemd/modemd.toml",
    ]
    plain = True  # keys of [[arrays]] and [named."<x>"] tables stay examples
    for header, node, where in _walk(SCHEMA):
        if isinstance(node, Section | Mapping):
            plain = isinstance(node, Section) and not node.array and not node.each
            used = plain and any(v.startswith(where + ".") for v in values)
            out += ["", f"# {node.help}", ("" if used else "# ") + header]
            if isinstance(node, Mapping):
                out.append(f'# "{node.each}" = {node.example}')
            continue
        name = f"{where}.{node.name}" if where else node.name
        shown = values.pop(name, None) if plain else None
        if shown is not None:
            out.append(f"{node.name} = {shown}  # {node.help}")
            continue
        default = node.example if node.default in (None, REQUIRED) else _toml(node.default)
        required = " (required)" if node.default is REQUIRED else ""
        out.append(f"# {node.name} = {default}  # {node.help}{required}")
    if values:
        raise ConfigError(f"template: no key {', '.join(values)} in a plain section")
    text = "\n".join(out) + "\n"
    try:
        validate(tomllib.loads(text), text, "template")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"template: {exc}") from exc
    return text
