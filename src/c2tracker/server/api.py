"""The REST API under ``/api/v1``: indicators, IP history, families, rules, runs, status, and
the operator actions (start a run, revoke, allowlist).

Routes build plain dicts from the store's records and send them with orjson; the pydantic
models below exist so the OpenAPI schema describes those bodies exactly, and the schemathesis
test checks every response against them. Reads need the read token when one is configured;
operator actions always need the server token (:mod:`c2tracker.server.auth`).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from c2tracker.model import (
    Category,
    Indicator,
    IndicatorStatus,
    IpHistory,
    QueryRunInfo,
    RuleStat,
    RunInfo,
    Sighting,
)
from c2tracker.server.auth import check_operator, check_read
from c2tracker.server.deps import as_utc, context, iso, normalise_ip
from c2tracker.server.errors import ApiError, not_found

logger = logging.getLogger(__name__)

#: Most indicators one page of ``GET /indicators`` returns.
MAX_LIMIT = 1000

#: Finished runs whose rule statistics ``/rules`` and the family pages show.
HISTORY_RUNS = 10


class OrjsonResponse(Response):
    """JSON through orjson: several times faster than the standard library for large pages."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# ----------------------------------------------------------------------------------------------
# Response models (documentation and conformance; bodies are built by the functions below)


class ErrorDetail(BaseModel):
    location: str
    message: str


class ErrorInner(BaseModel):
    status: int
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    """The one error shape."""

    error: ErrorInner


class IndicatorOut(BaseModel):
    ip: str
    rule_id: str
    family: str
    feed_name: str
    category: Category
    kind: str
    dual_use: bool
    first_seen: str
    last_seen: str
    times_seen: int
    ports: list[int]
    engines: list[str]
    queries: list[str]
    confidence: int
    status: IndicatorStatus
    status_reason: str | None
    status_changed_at: str | None
    valid_until: str | None
    malpedia: list[str]
    mitre: list[str]
    asn: str | None
    org: str | None
    country: str | None
    hostnames: list[str]


class IndicatorPage(BaseModel):
    indicators: list[IndicatorOut]
    offset: int
    limit: int
    next: str | None = Field(description="URL of the next page, null on the last one")


class SightingOut(BaseModel):
    ip: str
    port: int | None
    transport: str
    rule_id: str
    engine: str
    query: str
    run_id: int
    seen_at: str
    evidence: dict[str, Any]
    hostnames: list[str]
    asn: str | None
    org: str | None
    country: str | None


class IpHistoryOut(BaseModel):
    ip: str
    allowlisted: str | None
    indicators: list[IndicatorOut]
    sightings: list[SightingOut]


class FamilyOut(BaseModel):
    rule_id: str
    name: str
    category: str | None
    active: int


class RuleRunStat(BaseModel):
    run_id: int
    hits: int
    new: int
    kept: int
    dropped: int


class RuleOut(BaseModel):
    id: str
    name: str
    feed_name: str | None
    category: str | None
    queries: list[dict[str, str]]
    active: int
    last_run: RuleRunStat | None
    history: list[RuleRunStat]


class RunOut(BaseModel):
    id: int
    started_at: str
    finished_at: str | None
    status: str
    sources: list[str]
    observations: int
    queries_ok: int
    queries_failed: int
    queries_skipped: int
    credits: dict[str, int]


class QueryRunOut(BaseModel):
    run_id: int
    rule_id: str
    engine: str
    query: str
    outcome: str
    reason: str | None
    pages: int
    credits: int
    results: int
    duration_s: float | None


class RunDetailOut(RunOut):
    queries: list[QueryRunOut]


class StatusOut(BaseModel):
    engines: dict[str, str | None]
    last_run: RunOut | None
    active_indicators: int
    families: int
    collecting: bool
    next_collect: str | None
    feed: dict[str, Any] | None = Field(description="the published status.json, if any")


class RunStarted(BaseModel):
    started: bool
    message: str


class RevokeIn(BaseModel):
    ip: str = Field(max_length=64)
    rule_id: str | None = Field(None, max_length=200, description="one family, or all")
    reason: str = Field(min_length=1, max_length=2000)


class AllowIn(BaseModel):
    value: str = Field(max_length=100, description="an IP, a CIDR or an ASN (AS13335)")
    reason: str = Field(min_length=1, max_length=2000)


class ActionDone(BaseModel):
    ok: bool
    action: str
    target: str


# ----------------------------------------------------------------------------------------------
# Record → JSON


def indicator_json(indicator: Indicator) -> dict[str, Any]:
    return {
        "ip": indicator.ip,
        "rule_id": indicator.rule_id,
        "family": indicator.family,
        "feed_name": indicator.feed_name,
        "category": str(indicator.category),
        "kind": indicator.kind,
        "dual_use": indicator.dual_use,
        "first_seen": iso(indicator.first_seen),
        "last_seen": iso(indicator.last_seen),
        "times_seen": indicator.times_seen,
        "ports": list(indicator.ports),
        "engines": list(indicator.engines),
        "queries": list(indicator.queries),
        "confidence": indicator.confidence,
        "status": str(indicator.status),
        "status_reason": indicator.status_reason,
        "status_changed_at": iso(indicator.status_changed_at),
        "valid_until": iso(indicator.valid_until),
        "malpedia": list(indicator.malpedia),
        "mitre": list(indicator.mitre),
        "asn": indicator.asn,
        "org": indicator.org,
        "country": indicator.country,
        "hostnames": list(indicator.hostnames),
    }


def sighting_json(sighting: Sighting) -> dict[str, Any]:
    return {
        "ip": sighting.ip,
        "port": sighting.port,
        "transport": sighting.transport,
        "rule_id": sighting.rule_id,
        "engine": sighting.engine,
        "query": sighting.query,
        "run_id": sighting.run_id,
        "seen_at": iso(sighting.seen_at),
        "evidence": _plain(sighting.evidence),
        "hostnames": list(sighting.hostnames),
        "asn": sighting.asn,
        "org": sighting.org,
        "country": sighting.country,
    }


def history_json(history: IpHistory) -> dict[str, Any]:
    return {
        "ip": history.ip,
        "allowlisted": history.allowlisted,
        "indicators": [indicator_json(i) for i in history.indicators],
        "sightings": [sighting_json(s) for s in history.sightings],
    }


def run_json(run: RunInfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "status": run.status,
        "sources": list(run.sources),
        "observations": run.observations,
        "queries_ok": run.queries_ok,
        "queries_failed": run.queries_failed,
        "queries_skipped": run.queries_skipped,
        "credits": dict(run.credits),
    }


def query_run_json(query_run: QueryRunInfo) -> dict[str, Any]:
    return {
        "run_id": query_run.run_id,
        "rule_id": query_run.rule_id,
        "engine": query_run.engine,
        "query": query_run.query,
        "outcome": str(query_run.outcome),
        "reason": query_run.reason,
        "pages": query_run.pages,
        "credits": query_run.credits,
        "results": query_run.results,
        "duration_s": query_run.duration_s,
    }


def rule_stat_json(stat: RuleStat) -> dict[str, Any]:
    return {
        "run_id": stat.run_id,
        "hits": stat.hits,
        "new": stat.new,
        "kept": stat.kept,
        "dropped": stat.dropped,
    }


def _plain(value: Any) -> Any:
    """Evidence as JSON-safe values (bytes and odd types become text, never an error)."""
    return json.loads(json.dumps(value, default=str))


# ----------------------------------------------------------------------------------------------
# Routes


def require_read(request: Request) -> None:
    check_read(request, context(request).settings)


def require_operator(request: Request) -> None:
    check_operator(request, context(request).settings)


def store_changed(request: Request) -> None:
    """Drops the TAXII object index so the next TAXII request sees the operator's change."""
    request.app.state.taxii_index.invalidate()


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 405, 406, 409, 422, 500)
}

router = APIRouter(prefix="/api/v1", responses=ERRORS)
reader = APIRouter(dependencies=[Depends(require_read)])
operator = APIRouter(dependencies=[Depends(require_operator)])


@reader.get("/indicators", response_model=IndicatorPage, summary="List indicators")
def list_indicators(
    request: Request,
    family: str | None = Query(None, max_length=200, description="rule id of a family"),
    category: Category | None = None,
    status: IndicatorStatus | None = None,
    since: datetime | None = Query(None, description="last seen at or after (RFC 3339 or date)"),
    ip: str | None = Query(None, max_length=64),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> Response:
    """Indicators ordered by family then IP (a stable order, so offsets page reliably)."""
    store = context(request).store
    address = normalise_ip(ip) if ip is not None else None
    moment = as_utc(since) if since is not None else None

    stream = store.iter_indicators(
        status=status, category=category, family=family, since=moment, ip=address
    )
    rows = list(itertools.islice(stream, offset, offset + limit + 1))
    close = getattr(stream, "close", None)
    if close is not None:
        close()

    more = len(rows) > limit
    next_url = None
    if more:
        next_url = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    body = {
        "indicators": [indicator_json(row) for row in rows[:limit]],
        "offset": offset,
        "limit": limit,
        "next": next_url,
    }
    return OrjsonResponse(body)


@reader.get("/ip/{ip}", response_model=IpHistoryOut, summary="History and evidence of one IP")
def ip_history(request: Request, ip: str) -> Response:
    address = normalise_ip(ip)
    history = context(request).store.lookup(address)
    if not history.indicators and not history.sightings and history.allowlisted is None:
        raise not_found(f"{address} is not in the store")
    return OrjsonResponse(history_json(history))


@reader.get("/families", response_model=list[FamilyOut], summary="Families and active counts")
def families(request: Request) -> Response:
    ctx = context(request)
    counts = dict(ctx.store.families())
    ids = sorted(set(counts) | set(ctx.rules))
    body = []
    for rule_id in ids:
        rule = ctx.rules.get(rule_id)
        body.append(
            {
                "rule_id": rule_id,
                "name": rule.name if rule else rule_id,
                "category": rule.category if rule else None,
                "active": counts.get(rule_id, 0),
            }
        )
    return OrjsonResponse(body)


def rule_histories(request: Request, runs: int = HISTORY_RUNS) -> dict[str, list[dict[str, Any]]]:
    """Rule id → its statistics in each of the last ``runs`` finished runs, oldest first."""
    store = context(request).store
    finished = [run.id for run in store.runs(limit=runs) if run.finished_at is not None]
    histories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run_id in sorted(finished):
        for stat in store.rule_stats(run_id):
            histories[stat.rule_id].append(rule_stat_json(stat))
    return histories


@reader.get("/rules", response_model=list[RuleOut], summary="Rules with their hit statistics")
def rules(request: Request) -> Response:
    ctx = context(request)
    counts = dict(ctx.store.families())
    histories = rule_histories(request)
    body = []
    for rule_id in sorted(set(ctx.rules) | set(histories) | set(counts)):
        rule = ctx.rules.get(rule_id)
        history = histories.get(rule_id, [])
        body.append(
            {
                "id": rule_id,
                "name": rule.name if rule else rule_id,
                "feed_name": rule.feed_name if rule else None,
                "category": rule.category if rule else None,
                "queries": rule.queries if rule else [],
                "active": counts.get(rule_id, 0),
                "last_run": history[-1] if history else None,
                "history": history,
            }
        )
    return OrjsonResponse(body)


@reader.get("/runs", response_model=list[RunOut], summary="Recent collect runs, newest first")
def runs(request: Request, limit: int = Query(20, ge=1, le=1000)) -> Response:
    return OrjsonResponse([run_json(r) for r in context(request).store.runs(limit=limit)])


def find_run(request: Request, run_id: int) -> RunInfo:
    run = context(request).store.run(run_id)
    if run is None:
        raise not_found(f"no run {run_id}")
    return run


@reader.get("/runs/{run_id}", response_model=RunDetailOut, summary="One run and its queries")
def run_detail(request: Request, run_id: int) -> Response:
    run = find_run(request, run_id)
    body = run_json(run)
    body["queries"] = [query_run_json(q) for q in context(request).store.query_runs(run_id)]
    return OrjsonResponse(body)


def feed_status(request: Request) -> dict[str, Any] | None:
    """The published ``status.json``, or None when there is none (or it is unreadable)."""
    path = context(request).feeds_dir / "status.json"
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


@reader.get("/status", response_model=StatusOut, summary="Engine health, last run, feed status")
def status(request: Request) -> Response:
    ctx = context(request)
    latest = ctx.store.runs(limit=1)
    counts = ctx.store.families()
    body = {
        "engines": {engine: iso(moment) for engine, moment in ctx.store.engine_status().items()},
        "last_run": run_json(latest[0]) if latest else None,
        "active_indicators": sum(count for _, count in counts),
        "families": sum(1 for _, count in counts if count),
        "collecting": ctx.scheduler.is_running,
        "next_collect": iso(ctx.scheduler.next_time),
        "feed": feed_status(request),
    }
    return OrjsonResponse(body)


@operator.post(
    "/runs", status_code=202, response_model=RunStarted, summary="Start a collect run now"
)
def start_run(request: Request) -> Response:
    scheduler = context(request).scheduler
    if not scheduler.trigger():
        raise ApiError(409, "run_in_progress", "a collect run is already in progress")
    logger.info("collect run started over HTTP")
    return OrjsonResponse(
        {"started": True, "message": "collect run started; follow it at /api/v1/runs"},
        status_code=202,
    )


@operator.post("/revoke", response_model=ActionDone, summary="Revoke an indicator")
def revoke(request: Request, body: RevokeIn) -> Response:
    address = normalise_ip(body.ip)
    context(request).store.revoke(address, body.rule_id, body.reason, actor="api")
    store_changed(request)
    target = f"{address} ({body.rule_id or 'all families'})"
    return OrjsonResponse({"ok": True, "action": "revoke", "target": target})


@operator.delete("/revoke", response_model=ActionDone, summary="Undo a revocation")
def unrevoke(
    request: Request,
    ip: str = Query(max_length=64),
    rule_id: str | None = Query(None, max_length=200),
) -> Response:
    address = normalise_ip(ip)
    context(request).store.unrevoke(address, rule_id, actor="api")
    store_changed(request)
    target = f"{address} ({rule_id or 'all families'})"
    return OrjsonResponse({"ok": True, "action": "unrevoke", "target": target})


@operator.post("/allowlist", response_model=ActionDone, summary="Allowlist an IP, CIDR or ASN")
def allow(request: Request, body: AllowIn) -> Response:
    context(request).store.allow(body.value.strip(), body.reason, actor="api")
    store_changed(request)
    return OrjsonResponse({"ok": True, "action": "allow", "target": body.value.strip()})


@operator.delete("/allowlist", response_model=ActionDone, summary="Remove an allowlist entry")
def unallow(request: Request, value: str = Query(max_length=100)) -> Response:
    context(request).store.unallow(value.strip(), actor="api")
    store_changed(request)
    return OrjsonResponse({"ok": True, "action": "unallow", "target": value.strip()})


router.include_router(reader)
router.include_router(operator)
