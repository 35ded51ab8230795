"""The HTTP side of C2 Tracker: REST API, TAXII 2.1 server, feed files and dashboard.

``create_app`` builds the ASGI application that ``c2tracker serve`` runs on uvicorn.
"""

from __future__ import annotations

from c2tracker.server.app import create_app

__all__ = ["create_app"]
