"""The dashboard in a real browser (Playwright + Debian's Chromium) and its escaping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.helpers import LiveServer
from tests.server.seed import C2_IPS, HOSTILE_IP, HOSTILE_TITLE, IMG_PAYLOAD, SCRIPT_PAYLOAD

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_pages_escape_scan_values(client: TestClient) -> None:
    for path in ("/", "/families/hostile-panel", f"/ip?q={HOSTILE_IP}", "/runs", "/runs/1"):
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 200, path
        assert SCRIPT_PAYLOAD not in response.text, path
        assert IMG_PAYLOAD not in response.text, path
    page = client.get(f"/ip?q={HOSTILE_IP}").text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert "<script" not in page.replace('<script src="/static/app.js" defer></script>', "")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url)
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda exc: problems.append(str(exc)))
    opened.on(
        "request",
        lambda r: (
            problems.append(f"off-site request {r.url}")
            if not r.url.startswith(live_server.url)
            else None
        ),
    )
    opened.problems = problems
    yield opened
    context.close()
    assert problems == [], problems


def drawn_shapes(page: Any, selector: str) -> int:
    return int(
        page.eval_on_selector(
            selector,
            "svg => Array.from(svg.querySelectorAll('rect, circle'))"
            ".filter(e => e.getBBox().width > 0 && e.getBBox().height > 0).length",
        )
    )


@pytest.mark.browser
def test_every_page_opens_with_charts_drawn(page: Any) -> None:
    page.goto("/")
    assert page.locator("#total-active").inner_text() == "34"
    assert drawn_shapes(page, "#chart-category svg") >= 3
    assert drawn_shapes(page, "#chart-observations svg") == 3
    assert page.locator("html").get_attribute("data-ready") == "1"

    page.click('#families a:has-text("Cobalt Strike")')
    assert page.locator("h1").inner_text() == "Cobalt Strike"
    assert page.locator("#indicators tbody tr").count() == 30
    assert drawn_shapes(page, "#chart-hits svg") == 3

    page.click("text=Runs & status")
    assert page.locator("#runs tbody tr").count() == 3
    page.click("#runs >> text=#2")
    assert page.locator("h1").inner_text() == "Run #2"
    assert "failed" in page.locator("#queries").inner_text()


@pytest.mark.browser
def test_ip_search_shows_timeline_and_evidence_as_text(page: Any) -> None:
    page.goto("/")
    page.fill("input[name=q]", HOSTILE_IP)
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("#ip-address")

    assert page.locator("#ip-address").inner_text() == HOSTILE_IP
    assert drawn_shapes(page, "#chart-timeline svg") == 3
    # The payloads are on the page as text, and none of them ran.
    assert HOSTILE_TITLE in page.locator("#ip-indicators").inner_text()
    assert SCRIPT_PAYLOAD in page.locator("#sightings").inner_text()
    assert IMG_PAYLOAD in page.locator("#sightings").inner_text()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#sightings img").count() == 0


@pytest.mark.browser
def test_hostile_family_name_runs_nothing_anywhere(page: Any) -> None:
    for path in ("/", "/families/hostile-panel", f"/ip?q={C2_IPS[0]}", "/runs/1"):
        page.goto(path)
        assert page.evaluate("typeof window.__pwned") == "undefined", path
    page.goto("/families/hostile-panel")
    assert page.locator("h1").inner_text() == HOSTILE_TITLE
    page.goto("/")
    assert HOSTILE_TITLE in page.locator("#families").inner_text()


@pytest.mark.browser
def test_bad_search_and_table_sorting(page: Any) -> None:
    page.goto("/ip?q=not-an-ip")
    assert "not an IP address" in page.locator("#problem").inner_text()
    # The page itself answers 400, which the console reports; nothing else may fail.
    assert len(page.problems) == 1 and "400" in page.problems[0]
    page.problems.clear()

    page.goto("/families/cobalt-strike")
    first_before = page.locator("#indicators tbody tr td").first.inner_text()
    page.click("#indicators th:has-text('IP')")
    page.click("#indicators th:has-text('IP')")
    first_after = page.locator("#indicators tbody tr td").first.inner_text()
    assert first_before != first_after
