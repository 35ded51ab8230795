"""A Zeek Intel framework file: ``zeek/c2tracker.intel`` (load with ``Intel::read_files``).

Tab-separated with a ``#fields`` header, one line per active indicator, ``Intel::ADDR``.
``meta.source`` is ``c2tracker:<rule id>``: the framework keeps meta data per source, so an
address listed for two families keeps both descriptions. Only the base meta fields
(``source``, ``desc``, ``url``) are written, which every Zeek reads without a ``redef``.

Escaping (Zeek ASCII input reader): a tab or newline would split a field or a line, so every
control character and the backslash are written as ``\\xNN`` escapes, which the reader decodes;
an empty value is ``-`` and a value that is exactly ``-`` or ``(empty)`` is escaped too.
"""

from __future__ import annotations

import re

from c2tracker.feeds.base import RowExporter, iso
from c2tracker.model import Indicator

__all__ = ["ZeekIntel", "zeek_field"]

_ESCAPE = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
_MALPEDIA_URL = "https://malpedia.caad.fkie.fraunhofer.de/details/{}"


def zeek_field(text: str) -> str:
    """``text`` as one field of a Zeek ASCII file."""
    if text == "":
        return "-"
    escaped = _ESCAPE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if escaped in ("-", "(empty)"):
        return "".join(f"\\x{ord(c):02x}" for c in escaped)
    return escaped


class ZeekIntel(RowExporter):
    format = "zeek"
    path = "zeek/c2tracker.intel"

    def header(self) -> str:
        return "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n"

    def row(self, indicator: Indicator) -> str:
        family = self.context.family(indicator)
        ports = ",".join(str(port) for port in indicator.ports) or "unknown"
        desc = (
            f"{family.name} {indicator.category.value} server; ports {ports}; "
            f"confidence {indicator.confidence}; first seen {iso(indicator.first_seen)}; "
            f"last seen {iso(indicator.last_seen)}"
        )
        url = _MALPEDIA_URL.format(family.malpedia[0]) if family.malpedia else ""
        fields = (
            indicator.ip,
            "Intel::ADDR",
            f"c2tracker:{indicator.rule_id}",
            desc,
            url,
        )
        return "\t".join(zeek_field(field) for field in fields) + "\n"
