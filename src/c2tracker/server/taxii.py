"""A read-only TAXII 2.1 server (OASIS TAXII 2.1, sections 4 and 5) over the store.

Layout: discovery at ``/taxii2/``, one API root ``/taxii2/api/``, and collections with stable
UUIDv5 ids: everything, one per category and one per family. Each collection serves the STIX
objects of :mod:`c2tracker.server.stix` with ``added_after``, ``limit``, ``next``, ``match[id]``,
``match[type]``, ``match[version]`` and ``match[spec_version]``; manifests; single objects and
their versions. Requests must accept ``application/taxii+json;version=2.1`` (406 otherwise) and
errors use the TAXII error message resource (see :mod:`c2tracker.server.errors`).

``date_added`` of an object is its current version time (an indicator's last sighting), so a
client polling with ``added_after`` gets every indicator seen again or newly found. The sorted
object index is rebuilt at most every :data:`INDEX_TTL_SECONDS`, or at once after an operator
action, so paging 100,000 indicators does not re-read the store on every page.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from c2tracker.feeds.base import FamilyInfo, stable_uuid
from c2tracker.model import Category
from c2tracker.server.auth import check_read
from c2tracker.server.deps import context
from c2tracker.server.errors import TAXII_MEDIA_TYPE, ApiError, bad_request, not_found
from c2tracker.server.stix import Entry, entries_for, stix_time

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"

#: Objects per page when the client does not ask; and the most a page may hold.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

INDEX_TTL_SECONDS = 60.0

API_ROOT = "/taxii2/api/"


class TaxiiResponse(Response):
    media_type = TAXII_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# ----------------------------------------------------------------------------------------------
# Collections


@dataclass(frozen=True, slots=True)
class Collection:
    id: str
    title: str
    description: str
    accepts: Callable[[Entry], bool] = field(compare=False)

    def resource(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "can_read": True,
            "can_write": False,
            "media_types": [STIX_MEDIA_TYPE],
        }


def collection_id(key: str) -> str:
    """The stable id of a collection: UUIDv5 of ``all``, ``category:<c>`` or ``family:<id>``."""
    return stable_uuid("taxii-collection", key)


def _in_category(category: Category) -> Callable[[Entry], bool]:
    def accepts(entry: Entry) -> bool:
        return entry.category is None or entry.category == category.value

    return accepts


def _in_family(rule_id: str) -> Callable[[Entry], bool]:
    def accepts(entry: Entry) -> bool:
        return entry.rule_id is None or entry.rule_id == rule_id

    return accepts


def collections(request: Request) -> list[Collection]:
    """Every collection, in a stable order: all, the categories, then families by id."""
    ctx = context(request)
    found: list[Collection] = [
        Collection(
            collection_id("all"),
            "All indicators",
            "Every indicator C2 Tracker holds, in every family and status.",
            lambda entry: True,
        )
    ]
    for category in Category:
        found.append(
            Collection(
                collection_id(f"category:{category.value}"),
                f"Category {category.value}",
                f"Indicators of every family in the {category.value} category.",
                _in_category(category),
            )
        )
    index = index_cache(request).get(request)
    family_ids = sorted({rule_id for rule_id, _ in ctx.store.families()} | set(ctx.rules))
    for rule_id in family_ids:
        rule = ctx.rules.get(rule_id)
        known = index.families.get(rule_id)
        name = rule.name if rule else known.name if known else rule_id
        found.append(
            Collection(
                collection_id(f"family:{rule_id}"),
                f"Family {name}",
                f"Indicators of {name} (rule {rule_id}).",
                _in_family(rule_id),
            )
        )
    return found


def find_collection(request: Request, wanted: str) -> Collection:
    for collection in collections(request):
        if collection.id == wanted:
            return collection
    raise not_found(f"no collection {wanted[:64]!r}")


# ----------------------------------------------------------------------------------------------
# The object index


@dataclass
class ObjectIndex:
    """Every object of the "all" collection, sorted by (date_added, id), with its build time."""

    entries: list[Entry]
    keys: list[tuple[datetime, str]]
    families: dict[str, FamilyInfo]
    built_at: float


class IndexCache:
    """Holds the object index; rebuilt when older than the TTL or after :meth:`invalidate`."""

    def __init__(self, ttl: float = INDEX_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._index: ObjectIndex | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._index = None

    def get(self, request: Request) -> ObjectIndex:
        with self._lock:
            index = self._index
            if index is None or time.monotonic() - index.built_at > self.ttl:
                indicators = list(context(request).store.iter_indicators())
                entries, families = entries_for(indicators, context(request).rules)
                keys = [(e.date_added, e.id) for e in entries]
                index = ObjectIndex(entries, keys, families, time.monotonic())
                self._index = index
            return index


def index_cache(request: Request) -> IndexCache:
    cache = request.app.state.taxii_index
    assert isinstance(cache, IndexCache)
    return cache


# ----------------------------------------------------------------------------------------------
# Request checks and filters


def _accepts_taxii(header: str) -> bool:
    # TAXII 2.1 §1.6.8.1: clients send application/taxii+json;version=2.1. A missing version,
    # or a wildcard, is taken to mean the same; anything else gets 406.
    for item in header.split(","):
        media, *params = (part.strip().lower() for part in item.split(";"))
        if media in ("*/*", "application/*"):
            return True
        if media == "application/taxii+json":
            versions = [p.split("=", 1)[1] for p in params if p.startswith("version=")]
            if not versions or "2.1" in versions:
                return True
    return False


def require_taxii(request: Request) -> None:
    """Read access plus an acceptable Accept header."""
    check_read(request, context(request).settings)
    header = request.headers.get("accept")
    if header and not _accepts_taxii(header):
        raise ApiError(406, "not_acceptable", f"this server only answers with {TAXII_MEDIA_TYPE}")


def _parse_timestamp(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{name}: not an RFC 3339 timestamp: {text[:64]!r}") from None
    if moment.tzinfo is None:
        raise bad_request(f"{name}: the timestamp needs a time zone (Z)")
    return moment


def encode_next(entry: Entry) -> str:
    raw = f"{stix_time(entry.date_added)}|{entry.id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_next(token: str) -> tuple[datetime, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        stamp, _, object_id = base64.urlsafe_b64decode(padded).decode("utf-8").partition("|")
        return _parse_timestamp(stamp, "next"), object_id
    except (binascii.Error, UnicodeDecodeError, ValueError, ApiError):
        raise bad_request("next: not a token this server issued") from None


@dataclass
class Filters:
    """The query parameters of TAXII 2.1 §3.4 that this server supports."""

    added_after: datetime | None
    ids: set[str]
    types: set[str]
    versions: set[str]
    pinned: set[datetime]
    spec_versions: set[str]
    limit: int
    next: tuple[datetime, str] | None

    def matches(self, entry: Entry) -> bool:
        if self.ids and entry.id not in self.ids:
            return False
        if self.types and entry.type not in self.types:
            return False
        if self.spec_versions and "2.1" not in self.spec_versions:
            return False
        # One version per object: "first", "last" and "all" all select it.
        keyword = bool(self.versions & {"all", "last", "first"})
        return keyword or not self.pinned or entry.version in self.pinned


def _split(values: list[str] | None) -> set[str]:
    return {part.strip() for value in values or [] for part in value.split(",") if part.strip()}


def filters(
    added_after: str | None = Query(None, max_length=64),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    next_token: str | None = Query(None, alias="next", max_length=512),
    match_id: list[str] | None = Query(None, alias="match[id]"),
    match_type: list[str] | None = Query(None, alias="match[type]"),
    match_version: list[str] | None = Query(None, alias="match[version]"),
    match_spec_version: list[str] | None = Query(None, alias="match[spec_version]"),
) -> Filters:
    versions = _split(match_version)
    pinned = {
        _parse_timestamp(version, "match[version]")
        for version in versions - {"all", "last", "first"}
    }
    return Filters(
        added_after=_parse_timestamp(added_after, "added_after") if added_after else None,
        ids=_split(match_id),
        types=_split(match_type),
        versions=versions,
        pinned=pinned,
        spec_versions=_split(match_spec_version),
        limit=limit,
        next=decode_next(next_token) if next_token else None,
    )


@dataclass
class Page:
    entries: list[Entry]
    more: bool
    next: str | None

    def headers(self) -> dict[str, str]:
        if not self.entries:
            return {}
        return {
            "X-TAXII-Date-Added-First": stix_time(self.entries[0].date_added),
            "X-TAXII-Date-Added-Last": stix_time(self.entries[-1].date_added),
        }


def select(
    index: ObjectIndex, collection: Collection, wanted: Filters, object_id: str | None = None
) -> Page:
    """One page of the collection's entries that pass the filters, in (date_added, id) order."""
    start = 0
    if wanted.next is not None:
        start = bisect.bisect_right(index.keys, wanted.next)
    elif wanted.added_after is not None:
        # added_after is exclusive (TAXII 2.1 §3.4.1): skip every entry at or before it.
        start = bisect.bisect_right(index.keys, (wanted.added_after, "\uffff"))

    chosen: list[Entry] = []
    more = False
    for entry in index.entries[start:]:
        if object_id is not None and entry.id != object_id:
            continue
        if not collection.accepts(entry) or not wanted.matches(entry):
            continue
        if len(chosen) == wanted.limit:
            more = True
            break
        chosen.append(entry)

    token = encode_next(chosen[-1]) if more and chosen else None
    return Page(chosen, more, token)


def envelope(page: Page, objects: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next is not None:
        body["next"] = page.next
    if objects:
        body["objects"] = objects
    return body


def stix_objects(index: ObjectIndex, entries: list[Entry]) -> list[dict[str, Any]]:
    return [entry.build(index.families) for entry in entries]


# ----------------------------------------------------------------------------------------------
# Routes

router = APIRouter(prefix="/taxii2", dependencies=[Depends(require_taxii)])


@router.get("/", include_in_schema=False)
def discovery(request: Request) -> Response:
    root = str(request.base_url).rstrip("/") + API_ROOT
    return TaxiiResponse(
        {
            "title": "C2 Tracker TAXII server",
            "description": "C2, malware panel, botnet and dual-use tool servers as STIX 2.1.",
            "default": root,
            "api_roots": [root],
        }
    )


@router.get("/api/", include_in_schema=False)
def api_root(request: Request) -> Response:
    return TaxiiResponse(
        {
            "title": "C2 Tracker",
            "description": "Read-only collections of C2 Tracker indicators.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": 0,
        }
    )


@router.get("/api/collections/", include_in_schema=False)
def list_collections(request: Request) -> Response:
    return TaxiiResponse({"collections": [c.resource() for c in collections(request)]})


@router.get("/api/collections/{collection}/", include_in_schema=False)
def get_collection(request: Request, collection: str) -> Response:
    return TaxiiResponse(find_collection(request, collection).resource())


@router.get("/api/collections/{collection}/objects/", include_in_schema=False)
def get_objects(request: Request, collection: str, wanted: Filters = Depends(filters)) -> Response:
    found = find_collection(request, collection)
    index = index_cache(request).get(request)
    page = select(index, found, wanted)
    return TaxiiResponse(envelope(page, stix_objects(index, page.entries)), headers=page.headers())


@router.get("/api/collections/{collection}/manifest/", include_in_schema=False)
def get_manifest(request: Request, collection: str, wanted: Filters = Depends(filters)) -> Response:
    found = find_collection(request, collection)
    page = select(index_cache(request).get(request), found, wanted)
    records = [
        {
            "id": entry.id,
            "date_added": stix_time(entry.date_added),
            "version": stix_time(entry.version),
            "media_type": STIX_MEDIA_TYPE,
        }
        for entry in page.entries
    ]
    body: dict[str, Any] = {"more": page.more}
    if page.next is not None:
        body["next"] = page.next
    if records:
        body["objects"] = records
    return TaxiiResponse(body, headers=page.headers())


def _object_page(
    request: Request, collection: str, object_id: str, wanted: Filters
) -> tuple[ObjectIndex, Page]:
    found = find_collection(request, collection)
    index = index_cache(request).get(request)
    page = select(index, found, wanted, object_id=object_id)
    if not page.entries and wanted.next is None:
        everything = Filters(None, set(), set(), set(), set(), set(), 1, None)
        if not select(index, found, everything, object_id=object_id).entries:
            raise not_found(f"no object {object_id[:100]!r} in this collection")
    return index, page


@router.get("/api/collections/{collection}/objects/{object_id}/", include_in_schema=False)
def get_object(
    request: Request, collection: str, object_id: str, wanted: Filters = Depends(filters)
) -> Response:
    index, page = _object_page(request, collection, object_id, wanted)
    return TaxiiResponse(envelope(page, stix_objects(index, page.entries)), headers=page.headers())


@router.get("/api/collections/{collection}/objects/{object_id}/versions/", include_in_schema=False)
def get_versions(
    request: Request, collection: str, object_id: str, wanted: Filters = Depends(filters)
) -> Response:
    _, page = _object_page(request, collection, object_id, wanted)
    body: dict[str, Any] = {"more": page.more}
    if page.next is not None:
        body["next"] = page.next
    if page.entries:
        body["versions"] = [stix_time(entry.version) for entry in page.entries]
    return TaxiiResponse(body, headers=page.headers())
