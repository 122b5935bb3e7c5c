"""Escaping of values that come from the user's data (dimension values, pipeline names,
paths) for the two text formats auditor writes by hand: HTML and GitHub-flavoured Markdown.

HTML templates are autoescaped (auditor.render.templating); :func:`html_text` is for the
few places that assemble markup in Python (the SVG charts). :func:`md_cell` makes a value
safe inside a Markdown table cell or list item: a pipe cannot split the row, a newline
cannot end it, a backslash or backtick cannot change what follows, ``<``/``>`` cannot open
a tag in a pull-request comment, and a 10 kB value is clipped so one bad value cannot
flood a CI log. Both return :class:`markupsafe.Markup`, so an autoescaping template does
not escape them twice.
"""
from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape

MAX_CHARS = 120          # a value longer than this is clipped in cells and labels
ELLIPSIS = "…"

_NEWLINES = re.compile(r"\r\n|\r|\n|\u2028|\u2029")
_ENTITY = re.compile(r"&(?=#?\w+;)")
# Markdown's active characters; an underscore only where it could start or end emphasis
# (GitHub ignores one between two letters or digits, as in player_version)
_MD_SPECIAL = re.compile(r"([\\`|*\[\]]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")


def clip(text: Any, limit: int = MAX_CHARS) -> str:
    """``text`` as one line of at most ``limit`` characters (an ellipsis marks a cut)."""
    s = _NEWLINES.sub(" ", str(text))
    return s if len(s) <= limit else s[: limit - 1] + ELLIPSIS


def html_text(text: Any, limit: int = MAX_CHARS) -> Markup:
    """Clipped, HTML-escaped text (for markup built in Python)."""
    return escape(clip(text, limit))


def md_cell(text: Any, limit: int = MAX_CHARS) -> Markup:
    """Text that stays inside one Markdown table cell and renders literally."""
    s = _MD_SPECIAL.sub(r"\\\1", clip(text, limit))
    s = _ENTITY.sub("&amp;", s).replace("<", "&lt;").replace(">", "&gt;")
    return Markup(s)


def md_code(text: Any, limit: int = 2 * MAX_CHARS) -> Markup:
    """Text inside a Markdown code span (rendered literally, tags included): a backtick in it
    cannot close the span, a newline cannot end it."""
    s = clip(text, limit)
    fence = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return Markup(f"{fence}{pad}{s}{pad}{fence}")
