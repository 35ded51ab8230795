"""Neutralising text that came from the internet before it reaches a terminal or a spreadsheet.

Banner text, titles and certificate names are written by whoever runs the server we scanned, so
they are hostile: ANSI escape sequences can rewrite a terminal, and a cell starting with ``=``
runs as a formula in Excel or LibreOffice. HTML output escapes through Jinja's autoescaping; the
two other sinks go through these helpers.
"""

from __future__ import annotations

import re

# C0 controls except tab/newline, DEL, and C1 controls (which include CSI, 0x9b).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def for_terminal(text: str) -> str:
    """``text`` with every control character shown as a visible escape (``\\x1b``)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def for_terminal_line(text: str) -> str:
    """Like :func:`for_terminal`, also folding newlines and tabs so the text stays on one line."""
    return for_terminal(text).replace("\n", "\\n").replace("\t", "\\t")


def for_spreadsheet(text: str) -> str:
    """A CSV cell that spreadsheets will not run as a formula (OWASP CSV injection advice).

    Cells starting with a formula trigger get a leading apostrophe. Plain negative numbers
    (``-1957161625``, common for Shodan hashes) are left alone, since they cannot run.
    """
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
