"""The mechanism catalogue: ``rules/mechanisms.yaml`` plus one SQL overlay per entry.

Each :class:`Mechanism` is a typed, parameterised variant of the golden
computation (docs/mechanisms.md#the-catalogue). The catalogue is data: a team
adds an entry to the YAML file (and ``rules/mechanisms/NAME.sql``) in the
packaged rules folder or in its own rules folder, which overrides it like the
rest of ``rules/``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from auditor.golden.calculator import GoldenOptions
from auditor.golden.sqlfiles import RulesFolder
from auditor.yamldoc import load_yaml

CATALOGUE_FILE = "mechanisms.yaml"
HOWS = ("events", "option", "facts")
FITS = ("share", "grid")
_ENTRY_KEYS = ("family", "how", "touches", "param", "options", "phrase", "description")
_PARAM_KEYS = ("name", "unit", "scale", "sql_name", "option", "fit", "grid")


@dataclass(frozen=True)
class Param:
    """A mechanism's one parameter and how the search fits it."""

    name: str                       # as reported, e.g. watermark_s
    fit: str                        # share | grid
    unit: str = ""                  # s, min, ... ('' for a share)
    scale: float = 1.0              # reported value * scale = the SQL's value
    sql_name: str | None = None     # the bound $name in the overlay (default: name)
    option: str | None = None       # a named golden option it sets (option mechanisms)
    grid: tuple[float, ...] = ()

    @property
    def bound(self) -> str:
        return self.sql_name or self.name

    def to_sql(self, value: float) -> int | float:
        v = value * self.scale
        return int(round(v)) if self.scale != 1 or float(v).is_integer() else v

    def describe(self, value: float) -> str:
        if self.fit == "share":
            return f"{value:.0%}"
        return f"{value:g} {self.unit}".strip()


@dataclass(frozen=True)
class Mechanism:
    name: str
    family: str
    how: str                                    # events | option | facts
    phrase: str
    description: str = ""
    touches_events: str | None = None           # predicate on g_narrow rows
    touches_sessions: str | None = None         # predicate on m_in
    param: Param | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    sql: str | None = None                      # the overlay's rules-relative path

    @property
    def n_params(self) -> int:
        return 0 if self.param is None else 1

    def headline(self, params: Mapping[str, float]) -> str:
        """The phrase with its fitted parameter, e.g. 'first_frame lost for 15% of ...'."""
        if self.param is None:
            return self.phrase
        return self.phrase.replace("{" + self.param.name + "}",
                                   self.param.describe(params[self.param.name]))


@dataclass(frozen=True)
class Catalogue:
    mechanisms: tuple[Mechanism, ...]
    rules: RulesFolder
    source: str

    def __iter__(self):
        return iter(self.mechanisms)

    def __len__(self) -> int:
        return len(self.mechanisms)

    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.mechanisms)

    def get(self, name: str) -> Mechanism:
        for m in self.mechanisms:
            if m.name == name:
                return m
        from auditor.errors import ConfigError
        raise ConfigError(f"unknown mechanism {name!r}", file=self.source,
                          hint="catalogued mechanisms: " + ", ".join(self.names()))

    def without(self, *names: str) -> "Catalogue":
        """The catalogue less some entries (the benchmark's leave-one-out)."""
        return Catalogue(tuple(m for m in self.mechanisms if m.name not in names), self.rules,
                         self.source)


def load_catalogue(rules: RulesFolder | None = None) -> Catalogue:
    """Read ``mechanisms.yaml`` of ``rules`` (default: the packaged rules folder).

    A malformed entry is a ConfigError naming the file, line and key. A folder without
    the file has an empty catalogue (the search then names nothing)."""
    rules = rules or RulesFolder()
    if not rules.exists(CATALOGUE_FILE):
        return Catalogue((), rules, rules.path(CATALOGUE_FILE))
    if not rules.custom:
        return _packaged()
    return _load(rules)


@lru_cache(maxsize=1)
def _packaged() -> Catalogue:
    return _load(RulesFolder())


def _load(rules: RulesFolder) -> Catalogue:
    doc = load_yaml(rules.path(CATALOGUE_FILE), what="mechanism catalogue")
    data = doc.data or {}
    if not isinstance(data, Mapping) or not isinstance(data.get("mechanisms") or {}, Mapping):
        raise doc.error((), "mechanisms.yaml is a mapping with a `mechanisms:` mapping of entries",
                        "see docs/mechanisms.md#adding-a-mechanism")
    doc.check_keys((), data, ("version", "mechanisms"))
    out = []
    for name, entry in (data.get("mechanisms") or {}).items():
        path = ("mechanisms", name)
        if not isinstance(entry, Mapping):
            raise doc.error(path, f"mechanism {name!r} is a mapping", "see docs/mechanisms.md#adding-a-mechanism")
        doc.check_keys(path, entry, _ENTRY_KEYS, required=("family", "how", "phrase"))
        how = entry["how"]
        if how not in HOWS:
            raise doc.error((*path, "how"), f"how must be one of {', '.join(HOWS)}, not {how!r}",
                            "events edits raw events, option sets named options, facts rewrites session facts")
        touches = entry.get("touches") or {}
        if not isinstance(touches, Mapping):
            raise doc.error((*path, "touches"), "touches is a mapping: events: PREDICATE or sessions: PREDICATE")
        doc.check_keys((*path, "touches"), touches, ("events", "sessions"))
        param = None
        if entry.get("param") is not None:
            p = entry["param"]
            if not isinstance(p, Mapping):
                raise doc.error((*path, "param"), "param is a mapping with name and fit")
            doc.check_keys((*path, "param"), p, _PARAM_KEYS, required=("name", "fit"))
            if p["fit"] not in FITS:
                raise doc.error((*path, "param", "fit"), f"fit must be share or grid, not {p['fit']!r}")
            if p["fit"] == "grid" and not p.get("grid"):
                raise doc.error((*path, "param", "grid"), "a grid fit needs a list of values to try",
                                "e.g. grid: [10, 30, 60, 120]")
            try:
                grid = tuple(float(v) for v in p.get("grid") or ())
                scale = float(p.get("scale", 1))
            except (TypeError, ValueError):
                raise doc.error((*path, "param"), "grid values and scale are numbers") from None
            param = Param(name=str(p["name"]), fit=p["fit"], unit=str(p.get("unit", "")), scale=scale,
                          sql_name=p.get("sql_name"), option=p.get("option"), grid=grid)
            if param.option and param.option not in GoldenOptions.__dataclass_fields__:
                raise doc.error((*path, "param", "option"), f"unknown named option {param.option!r}",
                                "options: " + ", ".join(GoldenOptions.__dataclass_fields__))
        options = dict(entry.get("options") or {})
        if options:
            doc.check_keys((*path, "options"), options, list(GoldenOptions.__dataclass_fields__))
        sql = f"mechanisms/{name}.sql"
        if how in ("events", "facts"):
            if not rules.exists(sql):
                raise doc.error(path, f"mechanism {name!r} ({how}) needs its overlay {sql}",
                                "see docs/mechanisms.md#adding-a-mechanism")
        elif not options and not (param and param.option):
            raise doc.error(path, f"option mechanism {name!r} sets no named option",
                            "add options: {start_anchor: any_frame} or a param with option:")
        out.append(Mechanism(name=str(name), family=str(entry["family"]), how=how,
                             phrase=str(entry["phrase"]), description=str(entry.get("description", "")),
                             touches_events=touches.get("events"), touches_sessions=touches.get("sessions"),
                             param=param, options=options, sql=sql if how != "option" else None))
    return Catalogue(tuple(out), rules, rules.path(CATALOGUE_FILE))
