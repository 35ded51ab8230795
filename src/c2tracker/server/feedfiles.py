"""Serving the published feed folder under ``/feeds/`` with validators and 304 answers.

Feed consumers poll the same files every few minutes; ETag and Last-Modified let them skip the
body when nothing changed (RFC 9110 §13). The publisher swaps the whole folder atomically, so a
file's inode, size and modification time change together with its content, and the ETag is
built from them instead of hashing megabytes on every request. Paths are resolved and must stay
inside the feed folder (no ``..``, no symlink escapes).
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from c2tracker.server.auth import check_read
from c2tracker.server.deps import context
from c2tracker.server.errors import not_found

#: Media types by suffix; everything else is served as bytes to download.
MEDIA_TYPES = {
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".md": "text/markdown; charset=utf-8",
    ".rules": "text/plain; charset=utf-8",
    ".intel": "text/plain; charset=utf-8",
    ".dat": "text/plain; charset=utf-8",
    ".nft": "text/plain; charset=utf-8",
    ".ipset": "text/plain; charset=utf-8",
}


def require_read(request: Request) -> None:
    check_read(request, context(request).settings)


router = APIRouter(dependencies=[Depends(require_read)])


def resolve_feed_file(root: Path, relative: str) -> Path:
    """The file ``relative`` names inside ``root``, following the publisher's symlink swap.

    Raises:
        ApiError: 404 when the path leaves the folder, is hidden, or is not a regular file.
    """
    base = root.resolve()
    parts = Path(relative).parts
    if not relative or any(p in ("..", "") or p.startswith(".") for p in parts):
        raise not_found(f"no feed file {relative[:200]!r}")

    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        raise not_found(f"no feed file {relative[:200]!r}")
    return candidate


def make_etag(info: os.stat_result) -> str:
    return f'"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}"'


def is_not_modified(request: Request, etag: str, modified: datetime) -> bool:
    """RFC 9110 §13.1.2–13.1.3: If-None-Match wins; If-Modified-Since only without it."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return etag in tags

    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return modified.replace(microsecond=0) <= since
    return False


@router.api_route("/feeds/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
def feed_file(request: Request, path: str) -> Response:
    file = resolve_feed_file(context(request).feeds_dir, path)
    info = file.stat()
    if not stat.S_ISREG(info.st_mode):
        raise not_found(f"no feed file {path[:200]!r}")

    etag = make_etag(info)
    modified = datetime.fromtimestamp(info.st_mtime, UTC)
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Cache-Control": "public, max-age=60",
    }
    if is_not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)

    media_type = MEDIA_TYPES.get(file.suffix.lower(), "application/octet-stream")
    return FileResponse(file, media_type=media_type, headers=headers, stat_result=info)
