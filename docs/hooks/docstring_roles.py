"""MkDocs hook: zcpt's docstrings use Sphinx's notation; tidy it on the API pages.

mkdocstrings renders ``:func:`name``` as the text ``:func:`` followed by the code ``name``,
and a paragraph introducing a literal block ends in ``::``. On the pages of
``reference/api/`` this hook drops the role prefix (and, as Sphinx does, a leading ``~``
shortens a dotted name to its last part) and turns the ``::`` into ``:``.
"""
from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:mod|func|class|meth|data|attr|exc|obj|const):(<code>)(~?)([^<]*)(</code>)")


def _role(match: "re.Match[str]") -> str:
    opening, tilde, name, closing = match.groups()
    return opening + (name.rsplit(".", 1)[-1] if tilde else name) + closing


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    if not page.file.src_uri.startswith("reference/api/"):
        return html
    html = ROLE.sub(_role, html)
    return re.sub(r"::(\s*</p>)", r":\1", html)
