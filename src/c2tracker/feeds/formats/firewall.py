"""Ready-to-load firewall formats of the blocklist: Palo Alto EDL, ipset and nftables.

All three hold exactly ``lists/blocklist.txt`` (active, not dual-use).

- Palo Alto external dynamic list: one address per line and nothing else. PAN-OS accepts
  comments in some versions, but a stray line is an import error elsewhere, so none are
  written. Mind the per-model EDL capacity for large feeds.
- ipset: ``ipset restore < blocklist.ipset`` builds fresh sets and swaps them in, so a reload
  never leaves the firewall with a half-filled set; IPv6 lives in its own ``inet6`` set.
- nftables: ``nft -f blocklist.nft`` runs as one transaction; the sets are created if missing,
  flushed and refilled.
"""

from __future__ import annotations

from c2tracker.feeds.base import IpListExporter, Selection

__all__ = ["IpsetRestore", "NftablesSet", "PaloAltoEdl"]

_SET_V4 = "c2tracker-blocklist-v4"
_SET_V6 = "c2tracker-blocklist-v6"
#: ipset's default maxelem; larger feeds raise it to their size.
_IPSET_MIN_MAXELEM = 65536


class PaloAltoEdl(IpListExporter):
    format = "paloalto-edl"
    path = "paloalto/blocklist.txt"
    selection = Selection.BLOCKABLE


class IpsetRestore(IpListExporter):
    format = "ipset"
    path = "ipset/blocklist.ipset"
    selection = Selection.BLOCKABLE

    def header(self, v4_count: int, v6_count: int) -> str:
        lines = []
        for name, family, count in ((_SET_V4, "inet", v4_count), (_SET_V6, "inet6", v6_count)):
            maxelem = max(_IPSET_MIN_MAXELEM, count)
            options = f"hash:ip family {family} maxelem {maxelem}"
            lines.append(f"create {name} {options} -exist")
            lines.append(f"create {name}-new {options} -exist")
            lines.append(f"flush {name}-new")
        return "\n".join(lines) + "\n"

    def line(self, ip: str, v6: bool) -> str:
        return f"add {_SET_V6 if v6 else _SET_V4}-new {ip}\n"

    def footer(self) -> str:
        lines = []
        for name in (_SET_V4, _SET_V6):
            lines.append(f"swap {name}-new {name}")
            lines.append(f"destroy {name}-new")
        return "\n".join(lines) + "\n"


class NftablesSet(IpListExporter):
    format = "nftables"
    path = "nftables/blocklist.nft"
    selection = Selection.BLOCKABLE

    def header(self, v4_count: int, v6_count: int) -> str:
        return (
            "#!/usr/sbin/nft -f\n"
            "add table inet c2tracker\n"
            "add set inet c2tracker blocklist_v4 { type ipv4_addr; }\n"
            "add set inet c2tracker blocklist_v6 { type ipv6_addr; }\n"
            "flush set inet c2tracker blocklist_v4\n"
            "flush set inet c2tracker blocklist_v6\n"
        )

    def line(self, ip: str, v6: bool) -> str:
        name = "blocklist_v6" if v6 else "blocklist_v4"
        return f"add element inet c2tracker {name} {{ {ip} }}\n"
