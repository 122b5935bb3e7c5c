"""The Jinja environment of the report templates: autoescape on, StrictUndefined,
templates shipped in the package (auditor/templates/), formatting filters only."""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import jinja2

from auditor.errors import ConfigError
from auditor.render import escaping, numbers


def fmt_num(value: Any) -> str:
    """A number by the policy of auditor.render.numbers (never ``null``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value
    return numbers.plain(value)


def fmt_signed(value: Any) -> str:
    return numbers.signed(value)


def fmt_pct(value: Any) -> str:
    return numbers.pct(value)


def fmt_slice(value: dict) -> str:
    return numbers.slice_text(value)


_QUALITY_PHRASES = {"duplicate_events": "duplicate events", "late_events": "late events",
                    "orphan_sessions": "orphan sessions", "events_after_end": "events after the end"}


def quality_notes(explanation: dict) -> list[str]:
    """The notable data-quality rates of an explanation's slice, as phrases:
    '31% late events (2% overall)' (auditor.quality.explanation_quality)."""
    return [f"{fmt_pct(q['rate'])} {_QUALITY_PHRASES.get(name, name.replace('_', ' '))} "
            f"({fmt_pct(q['overall_rate'])} overall)"
            for name, q in (explanation.get("quality") or {}).items() if q.get("notable")]


def md_cell(value: Any, limit: int = escaping.MAX_CHARS) -> str:
    """Text safe inside a Markdown table cell (auditor.render.escaping.md_cell)."""
    return escaping.md_cell(value, limit)


def _details(value: Any) -> list[tuple[str, Any]]:
    """A quality check's ``details`` as (label, value) rows for a template: mappings of
    counts become one row per key, largest first."""
    if isinstance(value, dict):
        items = list(value.items())
        if items and all(isinstance(v, (int, float)) and not isinstance(v, bool) for _, v in items):
            return sorted(items, key=lambda kv: -kv[1])
        return items
    return []


def _detail_text(value: Any) -> str:
    """A scalar or list detail of a quality check, by the number policy, clipped."""
    if isinstance(value, (list, tuple)):
        return escaping.clip(", ".join(_detail_text(v) for v in value), 300)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return numbers.plain(value)
    return escaping.clip("n/a" if value is None else value, 300)


@lru_cache(maxsize=8)
def environment(templates: str | None = None) -> jinja2.Environment:
    """The template environment; with ``templates`` (a folder, audit.yaml's
    ``report: {templates: DIR}``) a template found there overrides the shipped one of the
    same name, and every other template falls back to the shipped one."""
    shipped = jinja2.PackageLoader("auditor", "templates")
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(templates), shipped]) if templates else shipped
    env = jinja2.Environment(loader=loader,
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(setting_pct=numbers.pct_setting, num=fmt_num, signed=fmt_signed, pct=fmt_pct,
                       slice=fmt_slice, md=md_cell, quality_notes=quality_notes,
                       value=numbers.value, delta=numbers.delta, share=numbers.share,
                       signed_pct=numbers.signed_pct, count=numbers.count, clip=escaping.clip,
                       mdcode=escaping.md_code, details=_details, detail_text=_detail_text,
                       gap_note=numbers.gap_share_note, share_note=numbers.share_note)
    return env


def render_template(name: str, templates: str | None = None, **context: Any) -> str:
    """Render a shipped template, or the override of the same name in ``templates``. A broken
    override (syntax error, unknown field) is a ConfigError naming the file and line."""
    env = environment(None if templates is None else str(templates))
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        if templates is None:
            raise   # a shipped template is broken: a bug
        where = getattr(exc, "filename", None) or os.path.join(str(templates), name)
        line = getattr(exc, "lineno", None)
        raise ConfigError(f"report template: {exc.message or exc}", file=f"{where}:{line}" if line else where,
                          hint="the context is documented at the top of the shipped template "
                               "(auditor/templates/); copy it and edit") from None
