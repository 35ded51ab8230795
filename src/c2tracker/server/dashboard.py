"""The web dashboard: overview, family pages, IP search with timeline and evidence, runs.

Pages are rendered on the server with Jinja2 (autoescape on for every template), so values that
came from a scan (titles, banners, certificate names, evidence) reach the browser only as
escaped text; evidence is shown as indented JSON inside ``<pre>``, never marked safe. Charts are
SVG drawn on the server (:mod:`c2tracker.server.charts`); the only script is the static
``app.js``, which the Content-Security-Policy allows because it comes from this server.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from c2tracker.model import Category, IndicatorStatus
from c2tracker.server.api import feed_status, find_run, rule_histories
from c2tracker.server.auth import check_read
from c2tracker.server.charts import bar_chart, timeline
from c2tracker.server.deps import ServerContext, context, iso, normalise_ip
from c2tracker.server.errors import ApiError, not_found

TEMPLATES = Path(__file__).parent / "templates"

#: Indicators listed on a family page; the API pages through the rest.
FAMILY_PAGE_ROWS = 500

#: Runs shown in the trend charts.
TREND_RUNS = 30


def make_templates() -> Environment:
    """The Jinja environment; autoescaping is on for every template, whatever its suffix."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["iso"] = iso
    env.filters["day"] = lambda moment: (iso(moment) or "")[:10]
    return env


def require_read(request: Request) -> None:
    check_read(request, context(request).settings)


router = APIRouter(dependencies=[Depends(require_read)], include_in_schema=False)


def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    env = request.app.state.templates
    assert isinstance(env, Environment)
    html = env.get_template(template).render(request=request, **values)
    return HTMLResponse(html, status_code=status_code)


def family_meta(ctx: ServerContext, rule_id: str) -> tuple[str, str]:
    """A family's display name and category: from the rule corpus, else from an indicator."""
    rule = ctx.rules.get(rule_id)
    if rule is not None:
        return rule.name, rule.category
    first = next(iter(ctx.store.iter_indicators(family=rule_id)), None)
    if first is None:
        return rule_id, "unknown"
    return first.family, str(first.category)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    ctx = context(request)
    counts = sorted(ctx.store.families(), key=lambda item: (-item[1], item[0]))

    per_category: Counter[str] = Counter({category.value: 0 for category in Category})
    families: list[dict[str, Any]] = []
    for rule_id, active in counts:
        name, category = family_meta(ctx, rule_id)
        per_category[category] += active
        families.append(
            {
                "id": rule_id,
                "name": name,
                "category": category,
                "active": active,
            }
        )

    runs = list(reversed(ctx.store.runs(limit=TREND_RUNS)))
    charts = {
        "category": bar_chart("Active indicators per category", sorted(per_category.items())),
        "families": bar_chart(
            "Top families (active indicators)",
            [(str(f["name"]), int(f["active"])) for f in families[:15]],
        ),
        "observations": bar_chart(
            "Observations per run", [(f"#{run.id}", run.observations) for run in runs]
        ),
        "failures": bar_chart(
            "Failed queries per run", [(f"#{run.id}", run.queries_failed) for run in runs]
        ),
    }
    return page(
        request,
        "overview.html",
        families=families,
        per_category=sorted(per_category.items()),
        total=sum(active for _, active in counts),
        charts=charts,
        last_run=runs[-1] if runs else None,
        feed=feed_status(request),
    )


@router.get("/families/{rule_id}", response_class=HTMLResponse)
def family(request: Request, rule_id: str) -> HTMLResponse:
    ctx = context(request)
    rule = ctx.rules.get(rule_id)
    indicators = list(
        itertools.islice(ctx.store.iter_indicators(family=rule_id), FAMILY_PAGE_ROWS + 1)
    )
    if rule is None and not indicators:
        raise not_found(f"no family {rule_id[:100]!r}")

    history = rule_histories(request, TREND_RUNS).get(rule_id, [])
    statuses = Counter(str(indicator.status) for indicator in indicators[:FAMILY_PAGE_ROWS])
    chart = bar_chart("Hits per run", [(f"#{h['run_id']}", h["hits"]) for h in history])
    return page(
        request,
        "family.html",
        rule_id=rule_id,
        rule=rule,
        name=family_meta(ctx, rule_id)[0],
        indicators=indicators[:FAMILY_PAGE_ROWS],
        truncated=len(indicators) > FAMILY_PAGE_ROWS,
        statuses=sorted(statuses.items()),
        history=history,
        chart=chart,
    )


@router.get("/ip", response_class=HTMLResponse)
def ip_search(request: Request, q: str | None = Query(None, max_length=200)) -> HTMLResponse:
    if q is None or not q.strip():
        return page(request, "ip.html", query="", history=None, problem=None)

    # A browser gets the search page again with the problem on it; other clients get the
    # error in the one JSON shape.
    browser = "text/html" in request.headers.get("accept", "")
    try:
        address = normalise_ip(q)
    except ApiError as exc:
        if not browser:
            raise
        return page(request, "ip.html", 400, query=q, history=None, problem=exc.message)

    history = context(request).store.lookup(address)
    if not history.indicators and not history.sightings and history.allowlisted is None:
        problem = f"{address} is not in the store"
        if not browser:
            raise not_found(problem)
        return page(request, "ip.html", 404, query=q, history=None, problem=problem)

    sightings = sorted(history.sightings, key=lambda s: s.seen_at)
    points: list[tuple[str, datetime, str]] = [
        (s.rule_id, s.seen_at, f"{s.rule_id} port {s.port} via {s.engine} on {iso(s.seen_at)}")
        for s in sightings
    ]
    evidence = [
        json.dumps(s.evidence, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        for s in sightings
    ]
    return page(
        request,
        "ip.html",
        query=q,
        address=address,
        history=history,
        sightings=list(zip(sightings, evidence, strict=True)),
        chart=timeline(points),
        problem=None,
    )


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> HTMLResponse:
    ctx = context(request)
    return page(
        request,
        "runs.html",
        runs=ctx.store.runs(limit=100),
        engines=sorted(ctx.store.engine_status().items()),
        feed=feed_status(request),
        scheduler=ctx.scheduler,
        statuses=[s.value for s in IndicatorStatus],
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int) -> HTMLResponse:
    run = find_run(request, run_id)
    queries = context(request).store.query_runs(run_id)
    outcomes = Counter(str(q.outcome) for q in queries)
    return page(request, "run.html", run=run, queries=queries, outcomes=sorted(outcomes.items()))
