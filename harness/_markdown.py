"""Text inside GitHub-flavoured Markdown (a leaf module: the report and the gate share it).

Markdown is not HTML: plain text such as ``93.5% >= 90%`` or ``p95 < 200ms`` is written
as is. Only what GitHub would read as markup is neutralised: pipes and newlines (they
break a table), backticks, and text holding an HTML tag or an entity (``<script>``,
``&amp;``), which is HTML-escaped so it shows literally.
"""

from __future__ import annotations

import html
import re
from typing import Any

_MARKUP = re.compile(r"<[A-Za-z/!?]|&(#\d+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")


def escape_md(value: Any) -> str:
    """Text safe inside a Markdown table cell: pipes, newlines and backticks neutralised; text
    that GitHub would render as HTML (a tag or an entity) HTML-escaped, other text left as is."""
    text = str(value)
    if _MARKUP.search(text):
        text = html.escape(text, quote=False)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ").replace("`", "\\`")
