"""YAML files with line numbers, so that errors can name the file, the key and the line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from healthsync.errors import ConfigError


@dataclass
class YamlDocument:
    """A parsed YAML mapping and the line (1-based) of every key path in it."""

    path: Path
    data: dict[str, Any]
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def line_of(self, loc: tuple[str | int, ...]) -> int | None:
        """The line of the deepest key of `loc` that the file holds."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def where(self, loc: tuple[str | int, ...]) -> str:
        line = self.line_of(loc)
        return f"{self.path}:{line}" if line else str(self.path)

    def problem(self, loc: tuple[str | int, ...], message: str) -> str:
        """`file:line: key: message`: the one shape of every error about a key of a YAML file."""
        return f"{self.where(loc)}: {dotted(loc)}: {message}"


def dotted(loc: tuple[str | int, ...]) -> str:
    """A key path as the user writes it: `destinations.hubspot.mapping`, `tasks.0.subject`."""
    return ".".join(str(part) for part in loc) or "(top level)"


def pydantic_message(error: Mapping[str, Any], unknown_key: str = "unknown key") -> str:
    """A pydantic error's message as healthsync says it: without pydantic's `Value error, ` prefix, and an extra
    key (`extra_forbidden`) as `unknown_key`."""
    if error["type"] == "extra_forbidden":
        return unknown_key
    return str(error["msg"]).removeprefix("Value error, ")


def _walk(node: yaml.Node, prefix: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int], path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                dotted = ".".join(str(part) for part in (*prefix, key))
                raise ConfigError(f"{path}:{line}: duplicate key {dotted!r} (first at line {seen[key]}): keep one")
            seen[key] = line
            loc = (*prefix, key)
            lines[loc] = line
            _walk(value_node, loc, lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            loc = (*prefix, index)
            lines[loc] = item.start_mark.line + 1
            _walk(item, loc, lines, path)


def load_yaml(path: Path) -> YamlDocument:
    """Read a YAML mapping; a missing file, bad syntax, a key given twice in one mapping (YAML 1.2 forbids it; PyYAML
    would keep the last silently) or a non-mapping top level is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror})") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from exc
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        _walk(node, (), lines, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return YamlDocument(path=path, data=data, lines=lines)
