"""The server's one error shape, and the handlers that force every failure into it.

Every error the HTTP API answers, whatever raised it (a route, FastAPI's request validation, the
router's 404/405, an authentication check, or a bug), has the body::

    {"error": {"status": 404, "code": "not_found", "message": "…"}}

with an optional ``"details"`` list for validation problems. Routes raise :class:`ApiError`;
everything else is translated here, in one place, so the shape cannot drift (style lesson 7).

The one exception is TAXII: TAXII 2.1 §3.6.1 defines its own error message resource, and TAXII
clients parse that, so requests under ``/taxii2`` get it instead (``title``, ``description``,
``http_status``, ``error_code``), served with the TAXII media type. Dashboard pages requested by
a browser (``Accept: text/html``) get the same fields rendered as an HTML page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from c2tracker.errors import StoreError

logger = logging.getLogger(__name__)

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"

#: Machine-readable codes for the statuses the framework itself raises.
_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}


@dataclass
class ApiError(Exception):
    """An error a route reports on purpose; rendered in the one error shape."""

    status: int
    code: str
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def body(self) -> dict[str, Any]:
        """The JSON body of this error in the one shape."""
        inner: dict[str, Any] = {
            "status": self.status,
            "code": self.code,
            "message": self.message,
        }
        if self.details:
            inner["details"] = self.details
        return {"error": inner}

    def taxii_body(self) -> dict[str, Any]:
        """The same error as a TAXII 2.1 error message resource (§3.6.1)."""
        body: dict[str, Any] = {
            "title": _title(self.status),
            "description": self.message,
            "error_code": self.code,
            # The spec types http_status as a string.
            "http_status": str(self.status),
        }
        if self.details:
            body["details"] = {"problems": self.details}
        return body


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only location and message: FastAPI's "input" echoes the request, which may hold a token.
    details = []
    for problem in exc.errors():
        location = ".".join(str(part) for part in problem.get("loc", ()))
        details.append({"location": location, "message": str(problem.get("msg", ""))})
    return details


def render(request: Request, error: ApiError) -> Response:
    """The response for ``error``, in the shape the requested route family uses."""
    path = request.url.path
    headers = dict(error.headers)

    if path == "/taxii2" or path.startswith("/taxii2/"):
        return JSONResponse(
            error.taxii_body(),
            status_code=error.status,
            headers=headers,
            media_type=TAXII_MEDIA_TYPE,
        )

    wants_html = "text/html" in request.headers.get("accept", "")
    is_machine_route = path.startswith(("/api/", "/feeds/", "/taxii2"))
    if wants_html and not is_machine_route:
        templates = getattr(request.app.state, "templates", None)
        if templates is not None:
            html = templates.get_template("error.html").render(error=error, request=request)
            return HTMLResponse(html, status_code=error.status, headers=headers)

    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    """Routes every kind of failure through :func:`render`."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return render(request, exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        code = _DEFAULT_CODES.get(status, "error")
        if status == 404:
            message = f"no such resource: {request.url.path}"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail) if exc.detail else _title(status)
        headers = dict(exc.headers or {})
        return render(request, ApiError(status, code, message, headers=headers))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = _validation_details(exc)
        summary = "; ".join(f"{d['location']}: {d['message']}" for d in details)
        error = ApiError(422, "invalid_request", f"invalid request: {summary}", details)
        return render(request, error)

    async def on_store_error(request: Request, exc: Exception) -> Response:
        # The store refuses values it cannot take (a malformed CIDR, an unknown rule) with
        # StoreError; that is the caller's mistake, not ours.
        return render(request, ApiError(400, "rejected", str(exc)))

    async def on_crash(request: Request, exc: Exception) -> Response:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        error = ApiError(500, "internal_error", "internal server error; see the server log")
        return render(request, error)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StoreError, on_store_error)
    app.add_exception_handler(Exception, on_crash)
