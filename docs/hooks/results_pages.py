"""MkDocs hook: the generated results pages that exist, in the nav and on ``results/index.md``.

``python benchmarks/tables.py`` writes one page per experiment of ``results/`` into
``docs/results/`` and writes none for an experiment that has no runs yet. So the nav
cannot name those pages: this hook adds every ``docs/results/*.md`` page other than the
hand-written ones to the "Results" section (before the archive), and replaces the
marker below on ``results/index.md`` by a list of links to them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

MARKER = "<!-- generated results pages -->"
WRITTEN = {"index.md", "archive.md"}  # the hand-written pages of docs/results/


def generated_pages(docs_dir: str) -> List[Tuple[str, str]]:
    """(title, path relative to docs/) of every generated results page, by file name."""
    pages = []
    for path in sorted((Path(docs_dir) / "results").glob("*.md")):
        if path.name in WRITTEN:
            continue
        title = next((line[2:].strip() for line in path.read_text(encoding="utf-8").splitlines()
                      if line.startswith("# ")), path.stem)
        pages.append((title, f"results/{path.name}"))
    return pages


def on_config(config: Any) -> Any:
    pages = generated_pages(config["docs_dir"])
    for section in config["nav"] or []:
        if isinstance(section, dict) and "Results" in section:
            entries: List[Any] = section["Results"]
            at = next((i for i, e in enumerate(entries) if "results/archive.md" in str(e)), len(entries))
            entries[at:at] = [{title: path} for title, path in pages]
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != "results/index.md" or MARKER not in markdown:
        return markdown
    pages = generated_pages(config["docs_dir"])
    listing: Dict[str, str] = {title: path[len("results/"):] for title, path in pages}
    text = "\n".join(f"- [{title}]({name})" for title, name in listing.items()) or \
        "- none yet: `python benchmarks/tables.py` writes them once `results/` holds finished runs"
    return markdown.replace(MARKER, text)
