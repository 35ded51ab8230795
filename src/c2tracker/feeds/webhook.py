"""Announcing a publish's changes to a webhook: generic JSON, Slack or Microsoft Teams.

Optional (``webhook_url`` setting, ``webhook_style`` generic|slack|teams). A failure is logged
and never fails the publish: the feed is already out. The URL carries the channel's secret,
so it is never logged; messages name the host at most.

Bodies:
- generic: ``{"event": "c2tracker.publish", "build", "generated_at", "added", "removed",
  "added_by_family", "removed_by_family", "sample_added", "stale"}``;
- slack: incoming-webhook message, ``text`` plus a ``mrkdwn`` section block (``&``, ``<``,
  ``>`` escaped as Slack requires);
- teams: a message with one Adaptive Card attachment, the shape Teams workflow webhooks take.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from c2tracker.feeds.delta import Delta

__all__ = ["TIMEOUT_S", "announce", "webhook_body"]

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
_TOP_FAMILIES = 10


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _summary_lines(delta: Delta) -> list[str]:
    lines = []
    ranked = sorted(delta.added_by_family.items(), key=lambda item: (-item[1], item[0]))
    for family, count in ranked[:_TOP_FAMILIES]:
        sample = ", ".join(delta.sample_added.get(family, [])[:3])
        lines.append(f"{family}: +{count} ({sample})")
    return lines


def webhook_body(style: str, delta: Delta, *, build: str, generated_at: str, stale: bool) -> Any:
    """The JSON body for ``style``."""
    title = f"C2 Tracker feed {build}: +{delta.added} / -{delta.removed} indicators"
    if stale:
        title += " (source stale)"
    if style == "slack":
        lines = "\n".join(f"• {_slack_escape(line)}" for line in _summary_lines(delta))
        text = _slack_escape(title)
        return {
            "text": text,
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"*{text}*\n{lines}".rstrip()},
                }
            ],
        }
    if style == "teams":
        facts = [
            {"title": family, "value": f"+{count}"}
            for family, count in sorted(
                delta.added_by_family.items(), key=lambda item: (-item[1], item[0])
            )[:_TOP_FAMILIES]
        ]
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            {"type": "TextBlock", "text": title, "weight": "Bolder", "wrap": True},
                            {"type": "FactSet", "facts": facts},
                        ],
                    },
                }
            ],
        }
    return {
        "event": "c2tracker.publish",
        "build": build,
        "generated_at": generated_at,
        "previous_build": delta.previous_build,
        "added": delta.added,
        "removed": delta.removed,
        "added_by_family": delta.added_by_family,
        "removed_by_family": delta.removed_by_family,
        "sample_added": delta.sample_added,
        "stale": stale,
    }


@contextmanager
def _quiet_transport_logs() -> Iterator[None]:
    """httpx logs every request URL at INFO and httpcore at DEBUG; this URL is a secret."""
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def announce(
    url: str,
    style: str,
    delta: Delta,
    *,
    build: str,
    generated_at: str,
    stale: bool,
    transport: httpx.BaseTransport | None = None,
) -> bool:
    """POSTs the announcement; returns whether it was accepted. Never raises."""
    body = webhook_body(style, delta, build=build, generated_at=generated_at, stale=stale)
    host = httpx.URL(url).host if url else "?"
    try:
        with (
            _quiet_transport_logs(),
            httpx.Client(timeout=TIMEOUT_S, transport=transport) as client,
        ):
            response = client.post(url, json=body)
    except (httpx.HTTPError, ValueError) as exc:
        # The exception text can contain the URL (and so the secret): report the type only.
        log.warning("webhook to %s failed: %s", host, type(exc).__name__)
        return False
    if response.status_code >= 400:
        log.warning("webhook to %s answered HTTP %d", host, response.status_code)
        return False
    log.info(
        "webhook to %s: HTTP %d, %d added, %d removed",
        host,
        response.status_code,
        delta.added,
        delta.removed,
    )
    return True
