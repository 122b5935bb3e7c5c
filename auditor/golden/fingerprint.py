"""The definition fingerprint: a stable hash of the data-affecting content of a rules folder.

A number always says which definitions produced it: ``auditor run`` stamps the
fingerprint into report.json and ``auditor gate`` into its outputs. Only what
can change a number counts:

- SQL files are tokenized and hashed without their comments (``--``, ``/* */``,
  Jinja ``{# #}``) and with every run of whitespace between tokens reduced to
  one separator, so re-indenting or re-commenting a stage does not count;
- YAML files are hashed as their parsed data with every ``description`` (and
  ``reason``, ``rule``) field removed, so comments, key order, quoting and
  prose do not count;
- the declared-changes manifest (``changes.yaml``), the definition cases
  (``cases/``) and the mechanism catalogue (``mechanisms.yaml``, ``mechanisms/``:
  hypotheses about pipelines, no golden number) are not definitions and are left out.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from auditor.errors import ConfigError
from auditor.golden.sqlfiles import RulesFolder

PROSE_KEYS = frozenset({"description", "reason", "rule"})
EXCLUDED = ("changes.yaml", "cases/", "mechanisms.yaml", "mechanisms/")
DEFINITION_SUFFIXES = (".sql", ".yaml", ".yml")

# One SQL token: a quoted string or identifier (kept verbatim), a comment, a
# word or number, a Jinja delimiter, or any other single character.
_TOKEN = re.compile(r"""
    (?P<comment>--[^\n]*|/\*.*?\*/|\{\#.*?\#\})
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<word>[A-Za-z0-9_$.]+)
  | (?P<jinja>\{\{|\}\}|\{%-?|-?%\})
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)


def normalize_sql(sql: str) -> str:
    """The SQL's tokens separated by single spaces, comments dropped.

    Two files that differ only in comments or whitespace normalize to the same text.
    """
    tokens = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup
        if kind in ("comment", "space"):
            continue
        tokens.append(m.group())
    return " ".join(tokens)


def data_fields(value: Any) -> Any:
    """Parsed YAML without its prose fields, keys sorted (recursively)."""
    if isinstance(value, Mapping):
        return {str(k): data_fields(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
                if k not in PROSE_KEYS}
    if isinstance(value, list):
        return [data_fields(v) for v in value]
    return value


def normalize_file(relpath: str, text: str) -> str:
    """The data-affecting content of one rules file, as text."""
    if relpath.endswith(".sql"):
        return normalize_sql(text)
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                          file=relpath + (f":{mark.line + 1}" if mark else "")) from None
    return json.dumps(data_fields(data), sort_keys=True, default=str, separators=(",", ":"))


@dataclass(frozen=True)
class Fingerprint:
    """``digest`` over the whole folder; ``files`` per definition file (relative path -> digest)."""

    digest: str
    files: Mapping[str, str]

    @property
    def short(self) -> str:
        return self.digest[:12]

    def changed_files(self, other: "Fingerprint") -> list[str]:
        """Definition files whose data-affecting content differs (added and removed included)."""
        return sorted(f for f in set(self.files) | set(other.files)
                      if self.files.get(f) != other.files.get(f))

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "files": dict(sorted(self.files.items()))}


def is_definition(relpath: str) -> bool:
    return relpath.endswith(DEFINITION_SUFFIXES) and not relpath.startswith(EXCLUDED)


def fingerprint(rules: RulesFolder | None = None) -> Fingerprint:
    """The fingerprint of ``rules`` (default: the packaged rules folder)."""
    rules = rules or RulesFolder()
    files = {}
    for relpath in rules.files():
        if is_definition(relpath):
            text = normalize_file(relpath, rules.read(relpath))
            files[relpath] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    whole = hashlib.sha256("\n".join(f"{p} {d}" for p, d in sorted(files.items())).encode("utf-8"))
    return Fingerprint(digest="sha256:" + whole.hexdigest(), files=files)
