"""YAML documents that remember where each key is, for errors that say file:line.

PyYAML's composer keeps a mark (line, column) on every node; we build plain
Python data from the node tree and keep the line of every key path beside
it, so validation can say ``audit.yaml:12: pipelines.batch.grain: ...``.
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from auditor.errors import ConfigError

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDoc:
    """Parsed YAML data plus the 1-based line of every key path in it."""

    data: Any
    file: str
    lines: Mapping[Path, int] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        return os.path.dirname(os.path.abspath(self.file))

    def where(self, path: Path) -> str:
        """``file:line`` of ``path`` (or of its nearest parent that has one)."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return f"{self.file}:{line}"
        return self.file

    def error(self, path: Path, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.where(path), key=dotted(path) or None, hint=hint)

    def check_keys(self, path: Path, value: Mapping, allowed: Iterable[str],
                   required: Iterable[str] = ()) -> None:
        """Unknown keys (with a "did you mean") and missing required keys are errors."""
        allowed = list(allowed)
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = (f"did you mean {close[0]!r}?" if close
                        else "allowed keys: " + ", ".join(allowed))
                raise self.error((*path, key), f"unknown key {key!r}", hint)
        for key in required:
            if key not in value:
                raise self.error(path, f"missing required key {key!r}",
                                 "allowed keys: " + ", ".join(allowed))


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml(path: str | os.PathLike, *, what: str = "YAML file") -> YamlDoc:
    """Read and parse ``path``; a missing file or a syntax error is a ConfigError."""
    file = os.fspath(path)
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=file,
                          hint="check the path (relative paths are from the current folder)") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the {what}: {exc}", file=file,
                          hint="give the path of a readable UTF-8 YAML file") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else file
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {problem}", file=where,
                          hint="check indentation and quoting near that line") from None
    lines: dict[Path, int] = {}
    data = _build(node, (), lines, file) if node is not None else None
    return YamlDoc(data=data, file=file, lines=lines)


def _build(node: yaml.Node, path: Path, lines: dict[Path, int], file: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key)
            if key in out:
                raise ConfigError(f"key {key!r} appears twice",
                                  file=f"{file}:{key_node.start_mark.line + 1}", hint="keep one of them")
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, (*path, key), lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, file) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
