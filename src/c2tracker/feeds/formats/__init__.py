"""Every feed format, one module each, and the list :func:`standard_exporters` publishes.

Folder layout under the publish directory (documented for users in ``docs/feeds.md``)::

    data/<feed_name> IPs.txt, data/all.txt     original C2-Tracker layout
    lists/blocklist.txt, lists/<category>.txt   address lists (+ <window>/ copies)
    lists/families/<slug>.txt                   one list per family
    csv/indicators.csv                          + <window>/ copies
    json/indicators.jsonl, json/indicators.json + <window>/ copies
    stix/bundle.json
    misp/manifest.json, misp/<uuid>.json, misp/hashes.csv
    ids/suricata.rules, ids/snort.rules
    zeek/c2tracker.intel
    paloalto/blocklist.txt, ipset/blocklist.ipset, nftables/blocklist.nft
"""

from __future__ import annotations

from c2tracker.feeds.base import Exporter, FeedContext
from c2tracker.feeds.formats.firewall import IpsetRestore, NftablesSet, PaloAltoEdl
from c2tracker.feeds.formats.ids import SidAllocator, SnortRules, SuricataRules
from c2tracker.feeds.formats.lists import Blocklist, FamilyList, category_lists
from c2tracker.feeds.formats.misp import MispFeed
from c2tracker.feeds.formats.original import OriginalAll, OriginalFamily
from c2tracker.feeds.formats.stix import StixBundle
from c2tracker.feeds.formats.tables import CsvTable, JsonDocument, JsonLines
from c2tracker.feeds.formats.zeek import ZeekIntel

__all__ = ["standard_exporters"]

#: Formats that are also published per time window (``<folder>/<window>/<file>``).
WINDOWED: tuple[type[Exporter], ...] = (
    Blocklist,
    *category_lists(),
    CsvTable,
    JsonLines,
    JsonDocument,
)


def standard_exporters(context: FeedContext) -> list[Exporter]:
    """One exporter per file of a full publish."""
    exporters: list[Exporter] = [OriginalAll(context)]
    seen_names: set[str] = set()
    for family in sorted(context.families.values(), key=lambda f: f.rule_id):
        for feed_name in family.feed_names:
            # Two rules claiming one feed name would write one file twice; rule validation
            # refuses that, the first rule wins here.
            if feed_name in seen_names:
                continue
            seen_names.add(feed_name)
            exporters.append(OriginalFamily(context, family.rule_id, feed_name))
        exporters.append(FamilyList(context, family))

    for exporter_type in WINDOWED:
        exporters.append(exporter_type(context))
        exporters += [exporter_type(context, window) for window in context.windows]

    sids = SidAllocator()
    exporters += [
        StixBundle(context),
        MispFeed(context),
        SuricataRules(context, sids),
        SnortRules(context, sids),
        ZeekIntel(context),
        PaloAltoEdl(context),
        IpsetRestore(context),
        NftablesSet(context),
    ]
    return exporters
