"""Who may read and who may act: the read token and the operator (server) token.

Reading is public unless ``read_token`` is set; then every read route (API, feeds, TAXII,
dashboard) needs it, or the operator token, as ``Authorization: Bearer <token>`` or as the
password of HTTP Basic auth (any user name), which is what TAXII clients and browsers send.
Operator actions (start a run, revoke, allowlist) always need ``server_token`` and are refused
outright when none is configured. Tokens are compared in constant time and never logged or
echoed: error messages name the header, not its value.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import Request

from c2tracker.server.errors import ApiError
from c2tracker.settings import Settings

#: Sent with 401s so that browsers prompt and TAXII clients know to retry with Basic auth.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="c2tracker", charset="UTF-8"'}


def presented_token(request: Request) -> str | None:
    """The token in the request's Authorization header (Bearer, or Basic password), if any.

    Raises:
        ApiError: the header is present but malformed.
    """
    header = request.headers.get("authorization")
    if header is None:
        return None

    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(
                401, "unauthorized", "malformed Basic credentials", headers=CHALLENGE
            ) from None
        _, _, password = decoded.partition(":")
        return password
    raise ApiError(
        401,
        "unauthorized",
        "unsupported Authorization scheme; use Bearer or Basic",
        headers=CHALLENGE,
    )


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def check_read(request: Request, settings: Settings) -> None:
    """Lets the request read, or raises 401/403 when a read token is configured."""
    if settings.read_token is None:
        return

    given = presented_token(request)
    if given is None:
        raise ApiError(401, "unauthorized", "this server needs a read token", headers=CHALLENGE)

    accepted = [settings.read_token.get_secret_value()]
    if settings.server_token is not None:
        accepted.append(settings.server_token.get_secret_value())
    # Compare against every accepted token without short-circuiting on the first match.
    results = [_matches(given, token) for token in accepted]
    if not any(results):
        raise ApiError(403, "forbidden", "the token is not valid for reading")


def check_operator(request: Request, settings: Settings) -> None:
    """Lets an operator action through only with the configured server token."""
    if settings.server_token is None:
        raise ApiError(
            403,
            "operator_disabled",
            "operator actions are disabled: set server_token (C2TRACKER_SERVER_TOKEN) to enable",
        )

    given = presented_token(request)
    if given is None:
        raise ApiError(
            401, "unauthorized", "operator actions need the server token", headers=CHALLENGE
        )
    if not _matches(given, settings.server_token.get_secret_value()):
        raise ApiError(403, "forbidden", "the token is not valid for operator actions")
