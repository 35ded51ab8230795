"""Honeypot detection: one address answering as many unrelated families at once.

Real C2 servers run one framework, or a few tools that are known to live together; honeypots
and scan-bait servers answer every fingerprint they are probed with (landscape.md §1.1 notes the
original feed had no such filter, and §3 lists the false-positive complaints that followed). An
IP is a honeypot candidate when, within ONE run, it was matched by at least ``min_families``
*independent* families, or when an engine tagged the observation ``honeypot``.

Families are not independent when:

- one names the other among its aliases, id, name or feed names (the same family twice), or
- they belong to a group in :data:`SHARED_HOST_GROUPS`: tools that are deployed together or
  that share code and default fingerprints.

The groups, and why each is there:

- Metasploit + Viper: Viper is a red-team platform built around Metasploit's RPC daemon, so its
  servers run both (both are among the largest files of the original feed, landscape.md §1.1).
- Metasploit + Cobalt Strike: Cobalt Strike passes sessions to Metasploit through foreign
  listeners and red teams co-locate the two; Armitage, Cobalt Strike's ancestor, is a Metasploit
  front end.
- Metasploit + BeEF: BeEF's Metasploit extension runs both on one host.
- AsyncRAT + DcRat + VenomRAT: forks of one code base that keep its default certificate and
  panel, so one server matches all three rule sets.
- Empire + Starkiller: Starkiller is Empire's web front end.
- GoPhish + Evilginx: phishing operators run the two side by side.

Spellings are compared with :func:`c2tracker.store.rulemeta.name_key`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from c2tracker.store.rulemeta import name_key

SHARED_HOST_GROUPS: tuple[frozenset[str], ...] = tuple(
    frozenset(name_key(n) for n in group)
    for group in (
        ("Metasploit", "Metasploit Framework", "Metasploit Framework C2", "Viper"),
        ("Metasploit", "Metasploit Framework", "Metasploit Framework C2", "Cobalt Strike"),
        ("Metasploit", "Metasploit Framework", "Metasploit Framework C2", "BeEF"),
        ("Metasploit", "Browser Exploitation Framework", "Browser Exploitation Framework (BeEF)"),
        ("AsyncRAT", "DcRat", "DCRat", "VenomRAT", "Venom RAT"),
        ("Empire", "PowerShell Empire", "Starkiller"),
        ("GoPhish", "Evilginx", "Evilginx2"),
    )
)

#: The engine tag that marks a honeypot (Shodan's ``tags``; other engines' labels map to it).
HONEYPOT_TAG = "honeypot"


@dataclass(frozen=True, slots=True)
class HoneypotVerdict:
    is_honeypot: bool
    groups: int
    """Independent families the IP answered as in the run."""
    reason: str | None


def independent_groups(rule_ids: Iterable[str], keys: Mapping[str, set[str]]) -> list[list[str]]:
    """Partitions ``rule_ids`` into groups of related families (union-find over the relations
    above); ``keys`` maps a rule id to its spelling keys (:func:`family_keys`)."""
    ids = sorted(set(rule_ids))
    parent = {rule_id: rule_id for rule_id in ids}

    def find(item: str) -> str:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def related(a: str, b: str) -> bool:
        ka = keys.get(a) or {name_key(a)}
        kb = keys.get(b) or {name_key(b)}
        if ka & kb:
            return True
        return any(ka & group and kb & group for group in SHARED_HOST_GROUPS)

    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if related(a, b):
                parent[find(a)] = find(b)

    groups: dict[str, list[str]] = {}
    for rule_id in ids:
        groups.setdefault(find(rule_id), []).append(rule_id)
    return sorted(groups.values())


def judge(
    rule_ids: Iterable[str],
    keys: Mapping[str, set[str]],
    *,
    min_families: int,
    tagged_by: Iterable[str] = (),
) -> HoneypotVerdict:
    """Whether an IP matched by ``rule_ids`` in one run (and tagged ``honeypot`` by the engines
    in ``tagged_by``) is a honeypot, and why."""
    groups = independent_groups(rule_ids, keys)
    engines = sorted(set(tagged_by))
    if engines:
        return HoneypotVerdict(
            True, len(groups), f"honeypot: tagged 'honeypot' by {', '.join(engines)}"
        )
    if len(groups) >= min_families:
        names = ", ".join(group[0] for group in groups)
        return HoneypotVerdict(
            True,
            len(groups),
            f"honeypot: answered as {len(groups)} unrelated families in one run ({names})",
        )
    return HoneypotVerdict(False, len(groups), None)
