"""What every live source shares: the query to run, a fetched page, and record → Observation.

A source answers three questions for the planner and the runner (:mod:`.runner`): how many
results a query has, when that is free to ask (:meth:`Source.count`); what a page costs in
credits (:meth:`Source.page_credits`); and the page itself (:meth:`Source.fetch_page`).

Pages are always counted in :data:`PAGE_SIZE` results, whatever one request returns. A source
that can fetch several pages in one request (Shodan's ``limit``/``offset``, shodan.md §1.2–1.4)
says how many in :attr:`Source.pages_per_request`; the :class:`Page` it returns then spans
several pages, and its ``number`` is the last of them. Checkpoints store that number, so
"page P is stored" always means "results up to P × 100 are stored", however they were fetched.

Turning an engine's record into an :class:`~c2tracker.model.Observation` lives here too, for
Shodan banners, Censys Platform hits and legacy Censys hits. What a live engine returns for a
query is kept as an observation even when the offline evaluator cannot re-derive why it
matched (Shodan's ``minify`` drops fields; Censys returns only some fields of a host): the
evidence is then the engine's word (``{"engine_match": query}``) plus the record fields that
identify the service, never an empty dict.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from c2tracker.model import Engine, Fidelity, Observation

log = logging.getLogger(__name__)

#: Results per page on every engine (shodan.md §1.5, censys.md §1.2 and §2.3).
PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class PlannedQuery:
    """One query of one rule, for one engine."""

    rule_id: str
    family: str
    engine: Engine
    query: str
    fidelity: Fidelity = Fidelity.MEDIUM


@dataclass(slots=True)
class Page:
    """One fetched page of results."""

    number: int
    """1-based number of the last :data:`PAGE_SIZE`-result page the request covered."""
    observations: list[Observation]
    total: int | None
    """Total results the engine reports for the query (Shodan: banners; Censys: hosts)."""
    next_token: str | None
    """Censys page token or cursor for the next page; None when there is none, and for Shodan."""
    credits: int
    hits: int
    """Records on the page (an observation may be dropped when its IP is unusable)."""
    dropped: list[str] = field(default_factory=list)
    """Why records of the page gave no observation."""
    span: int = 1
    """How many pages of :data:`PAGE_SIZE` results the request covered: pages
    ``number - span + 1`` … ``number``."""

    @property
    def first(self) -> int:
        """The first page the request covered."""
        return self.number - self.span + 1


class Source(Protocol):
    """A live search engine account."""

    engine: Engine
    name: str
    """``shodan``, ``censys`` or ``censys-legacy``: what ``--source`` and the store call it."""
    has_free_count: bool

    @property
    def pages_per_request(self) -> int:
        """Most pages one request may cover (1 for an engine that pages one page at a time)."""
        ...

    def count(self, query: str) -> int:
        """Total results of ``query`` without spending credits (only when has_free_count)."""
        ...

    def page_credits(self, query: str, page: int) -> int:
        """Credits the engine charges for page ``page`` of ``query``."""
        ...

    def fetch_page(
        self, planned: PlannedQuery, page: int, token: str | None, *, span: int = 1
    ) -> Page:
        """Fetches pages ``page`` … ``page + span - 1`` in one request (at most
        :attr:`pages_per_request`; the returned page may cover fewer); ``token`` is the
        previous page's next_token (Censys)."""
        ...

    def is_last_page(self, page: Page) -> bool:
        """True when no page follows ``page``."""
        ...

    def balance(self) -> int | None:
        """Credits left on the account, when the engine says so for free."""
        ...

    @property
    def requests(self) -> int:
        """HTTP requests sent so far."""
        ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Record → Observation


def normalise_ip(value: Any) -> str | None:
    """Compressed address text; IPv4-mapped IPv6 unwrapped; None for anything unusable.

    Shodan gives IPv4 as ``ip_str`` and as an unsigned int ``ip`` (shodan.md §2.1).
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        address = ipaddress.ip_address(value if isinstance(value, int) else str(value).strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return address.compressed


def parse_timestamp(value: Any) -> datetime | None:
    """Shodan's zone-less UTC timestamps and Censys' RFC 3339 ones, as aware UTC datetimes."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value <= 65535:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) <= 65535:
        return int(value)
    return None


def _path(record: Mapping[str, Any], dotted: str) -> Any:
    current: Any = record
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        return tuple(str(v) for v in value if isinstance(v, str | int) and not isinstance(v, bool))
    return ()


#: Fields that identify what a service is, kept as evidence when the offline evaluator
#: cannot re-derive the match from what the engine returned.
SHODAN_KEY_FIELDS = (
    "product",
    "version",
    "http.title",
    "http.server",
    "http.favicon.hash",
    "http.html_hash",
    "ssl.jarm",
    "ssl.cert.serial",
    "ssl.cert.subject.CN",
    "ssl.cert.issuer.CN",
    "hash",
)
CENSYS_KEY_FIELDS = (
    "port",
    "protocol",
    "service_name",
    "extended_service_name",
    "software",
    "jarm.fingerprint",
    "cert.fingerprint_sha256",
    "certificate",
    "banner_hash_sha256",
)


def offline_evidence(
    engine: Engine, query: str, record: Mapping[str, Any]
) -> dict[str, Any] | None:
    """What the offline evaluator finds in ``record`` for ``query``; None if it cannot."""
    try:
        from c2tracker import matching
        from c2tracker.querylang import parse_query

        evidence = matching.evaluate(parse_query(engine, query), record)
    except Exception as exc:  # the evaluator is best effort here; the engine already matched
        log.debug("offline evaluation of %r failed: %s", query, type(exc).__name__)
        return None
    return dict(evidence) if isinstance(evidence, Mapping) else None


def fallback_evidence(
    query: str, record: Mapping[str, Any], fields: Iterable[str]
) -> dict[str, Any]:
    """The engine's word for it plus the identifying fields present in the record."""
    evidence: dict[str, Any] = {"engine_match": query}
    for name in fields:
        value = _path(record, name)
        if value not in (None, "", [], {}):
            evidence[name] = value
    return evidence


def observation_from_shodan(
    banner: Mapping[str, Any], planned: PlannedQuery, source: str = "shodan"
) -> Observation | None:
    """A Shodan banner as an observation; None when it carries no usable address.

    IPv6 banners have ``ipv6`` and no ``ip_str`` (shodan.md §2.1).
    """
    ip = normalise_ip(banner.get("ip_str")) or normalise_ip(banner.get("ipv6"))
    if ip is None:
        ip = normalise_ip(banner.get("ip"))
    if ip is None:
        return None

    evidence = offline_evidence(planned.engine, planned.query, banner)
    if not evidence:
        evidence = fallback_evidence(planned.query, banner, SHODAN_KEY_FIELDS)

    transport = banner.get("transport")
    location = banner.get("location")
    country = location.get("country_code") if isinstance(location, Mapping) else None
    return Observation(
        ip=ip,
        port=_port(banner.get("port")),
        transport=transport.lower() if isinstance(transport, str) and transport else "tcp",
        rule_id=planned.rule_id,
        family=planned.family,
        engine=planned.engine,
        query=planned.query,
        timestamp=parse_timestamp(banner.get("timestamp")),
        evidence=evidence,
        source=source,
        hostnames=_strings(banner.get("hostnames")),
        asn=str(banner["asn"]) if banner.get("asn") else None,
        org=banner.get("org") if isinstance(banner.get("org"), str) else None,
        country=country if isinstance(country, str) else None,
        tags=_strings(banner.get("tags")),
    )


def observations_from_censys_host(
    host: Mapping[str, Any],
    planned: PlannedQuery,
    source: str,
    matched_services: Any = None,
) -> list[Observation]:
    """A Censys host (Platform ``resource`` or legacy v2 hit) as observations.

    One observation per matched service when the engine names them (Platform
    ``matched_services``, censys.md §2.4); otherwise one per host, with the port known only when
    the host has a single service (legacy hits name no matched service, §1.4).
    """
    ip = normalise_ip(host.get("ip"))
    if ip is None:
        return []

    services = host.get("services")
    services = [s for s in services if isinstance(s, Mapping)] if isinstance(services, list) else []
    targets: list[tuple[int | None, str, Mapping[str, Any] | None]] = []
    if isinstance(matched_services, list) and matched_services:
        for matched in matched_services:
            if not isinstance(matched, Mapping):
                continue
            port = _port(matched.get("port"))
            transport = str(matched.get("transport_protocol") or "tcp").lower()
            service = next((s for s in services if _port(s.get("port")) == port), None)
            targets.append((port, transport, service))
    if not targets:
        if len(services) == 1:
            only = services[0]
            transport = str(only.get("transport_protocol") or "tcp").lower()
            targets.append((_port(only.get("port")), transport, only))
        else:
            targets.append((None, "tcp", None))

    evidence = offline_evidence(planned.engine, planned.query, host)
    system = host.get("autonomous_system")
    system = system if isinstance(system, Mapping) else {}
    location = host.get("location")
    location = location if isinstance(location, Mapping) else {}
    names = _path(host, "dns.reverse_dns.names") or _path(host, "dns.names")
    observations = []
    for port, transport, service in targets:
        found = evidence or fallback_evidence(planned.query, service or {}, CENSYS_KEY_FIELDS)
        seen = parse_timestamp((service or {}).get("scan_time")) or parse_timestamp(
            host.get("last_updated_at")
        )
        observations.append(
            Observation(
                ip=ip,
                port=port,
                transport=transport if transport in ("tcp", "udp", "quic") else "tcp",
                rule_id=planned.rule_id,
                family=planned.family,
                engine=planned.engine,
                query=planned.query,
                timestamp=seen,
                evidence=dict(found),
                source=source,
                hostnames=_strings(names),
                asn=f"AS{system['asn']}" if system.get("asn") else None,
                org=system.get("name") if isinstance(system.get("name"), str) else None,
                country=(
                    location.get("country_code")
                    if isinstance(location.get("country_code"), str)
                    else None
                ),
                tags=_labels(host),
            )
        )
    return observations


def _labels(host: Mapping[str, Any]) -> tuple[str, ...]:
    # Platform hosts carry labels as [{"value": "..."}]; legacy hits carry plain strings.
    labels = host.get("labels")
    if not isinstance(labels, list):
        return ()
    values = [label.get("value") if isinstance(label, Mapping) else label for label in labels]
    return tuple(v for v in values if isinstance(v, str))


def pages_for(total: int) -> int:
    """Pages needed to read ``total`` results."""
    return -(-max(total, 0) // PAGE_SIZE)


def requests_for(pages: int, pages_per_request: int) -> int:
    """Requests needed to read ``pages`` pages, ``pages_per_request`` at a time."""
    return -(-max(pages, 0) // max(pages_per_request, 1))
