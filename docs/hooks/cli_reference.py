"""MkDocs hook: ``reference/cli.md``, written at build time from zcpt's own argparse parsers.

Every command, flag, choice and default on that page comes from ``zcpt.cli.build_parser()``,
so the page cannot drift from the code. The page exists only in the build (nothing is
written into ``docs/``).
"""
from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path
from typing import Iterable, List

from mkdocs.structure.files import File, Files

PAGE = "reference/cli.md"
ROOT = Path(__file__).resolve().parents[2]  # the repository root: document this checkout's zcpt


def _cell(text: str) -> str:
    """Plain text as the content of a Markdown table cell: HTML escaped, `code` kept as code."""
    parts = str(text).split("`")
    out = []
    for i, part in enumerate(parts):
        escaped = html.escape(part, quote=False).replace("|", "&#124;")
        out.append(f"<code>{escaped}</code>" if i % 2 and i < len(parts) - 1 else escaped)
    return "".join(out).replace("\n", " ")


def _default(action: argparse.Action) -> str:
    if action.default in (None, argparse.SUPPRESS) or isinstance(action, (argparse._StoreTrueAction,
                                                                           argparse._HelpAction,
                                                                           argparse._VersionAction)):
        return ""
    if isinstance(action.default, list) and not action.default:
        return ""
    return f"<code>{_cell(action.default)}</code>"


def _value(action: argparse.Action) -> str:
    if action.nargs == 0 or (not action.option_strings and not action.choices):
        return ""  # a flag, or a positional argument whose name says it
    if action.choices:
        return " &#124; ".join(f"<code>{_cell(c)}</code>" for c in action.choices)
    metavar = action.metavar or (action.dest.upper() if action.option_strings else action.dest)
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    more = " ..." if action.nargs in ("+", "*") else ""
    return f"<code>{_cell(metavar)}{more}</code>"


def _table(actions: Iterable[argparse.Action]) -> List[str]:
    rows = ["| argument | value | default | description |", "|---|---|---|---|"]
    for action in actions:
        if action.help == argparse.SUPPRESS:
            continue
        names = ", ".join(f"<code>{_cell(o)}</code>" for o in action.option_strings) or \
            f"<code>{_cell(action.metavar or action.dest)}</code>"
        help_text = (action.help or "").replace("%(default)s", str(action.default)).replace("%%", "%")
        rows.append(f"| {names} | {_value(action)} | {_default(action)} | {_cell(help_text)} |")
    return rows if len(rows) > 2 else []


def _parser_section(title: str, parser: argparse.ArgumentParser, level: str) -> List[str]:
    lines = [f"{level} `{title}`", ""]
    if parser.description:
        lines += [parser.description[0].upper() + parser.description[1:] + ".", ""]
    usage = parser.format_usage().strip()
    lines += ["```text", re.sub(r"^usage: ", "", usage), "```", ""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if not isinstance(a, argparse._SubParsersAction)]
        table = _table(actions)
        if table:
            lines += [f"**{group.title}**" + (f": {_cell(group.description)}" if group.description else ""), ""]
            lines += table + [""]
    if parser.epilog:
        lines += [_cell(parser.epilog), ""]
    return lines


def cli_reference() -> str:
    """The Markdown of the command-line reference."""
    if sys.path[:1] != [str(ROOT)]:
        sys.path.insert(0, str(ROOT))
    from zcpt.cli import COMMANDS, build_parser

    parser = build_parser()
    lines = ["# Command line", "",
             "Every command, flag and default below is read from `zcpt`'s own argument parsers when the "
             "documentation is built. `zcpt COMMAND --help` prints the same. Every command also takes "
             "`-q/--quiet` and `-v/--verbose`, before or after its name (`zcpt -q search ...`).", "",
             "| command | what it does |", "|---|---|"]
    lines += [f"| [`zcpt {name}`](#zcpt-{name}) | {_cell(help_text)} |" for name, (_, help_text) in COMMANDS.items()]
    lines += [""]
    lines += _parser_section("zcpt", parser, "##")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in COMMANDS:
        lines += _parser_section(f"zcpt {name}", sub.choices[name], "##")
    return "\n".join(lines) + "\n"


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, PAGE, content=cli_reference()))
    return files
