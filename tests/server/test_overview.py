"""Overview details: chart labels that fit their bars, and the sample-data notice."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from c2tracker.server.charts import LABEL_CHAR_WIDTH, bar_chart


def test_bar_labels_never_run_into_their_neighbours() -> None:
    few = bar_chart("few", [("Cobalt Strike C2", 3), ("Sliver", 2)])
    many = bar_chart("many", [(f"Family number {n}", n) for n in range(1, 41)])

    assert all(bar.label_chars * LABEL_CHAR_WIDTH <= bar.width for bar in few.bars + many.bars)
    assert few.bars[0].label_chars >= len("Cobalt Strike C2")
    assert many.bars[0].label_chars < 3


def test_overview_shows_the_feeds_notice_escaped(client: TestClient, feeds_dir: Path) -> None:
    status = json.loads((feeds_dir / "status.json").read_text(encoding="utf-8"))
    status["data_source"] = "sample"
    status["notice"] = "Built from SAMPLE data <b>not live</b>"
    (feeds_dir / "status.json").write_text(json.dumps(status), encoding="utf-8")

    page = client.get("/", headers={"Accept": "text/html"}).text

    assert 'id="data-notice"' in page
    assert "Built from SAMPLE data &lt;b&gt;not live&lt;/b&gt;" in page


def test_overview_has_no_notice_for_live_feeds(client: TestClient) -> None:
    page = client.get("/", headers={"Accept": "text/html"}).text

    assert 'id="data-notice"' not in page
