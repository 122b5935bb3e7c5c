"""The Jinja environment of the report templates: autoescape on, StrictUndefined,
templates shipped in the package (auditor/templates/), formatting filters only."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2

from auditor.render import numbers


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


def md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("auditor", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(setting_pct=numbers.pct_setting, num=fmt_num, signed=fmt_signed, pct=fmt_pct, slice=fmt_slice, md=md_cell,
                       quality_notes=quality_notes)
    return env


def render_template(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
