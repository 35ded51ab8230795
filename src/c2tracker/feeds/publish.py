"""Publishing: build every format into a staging folder, validate, then swap it in atomically.

How readers see it: the publish directory (``./feeds`` by default) is a symbolic link to a
build folder kept beside it, ``.<name>.builds/<build id>/``. A publish writes a new build under
``.<name>.builds/tmp-<build id>/``, validates it, renames it to its final name and then replaces
the link with ``rename(2)`` of a freshly made link, which is atomic: a reader opening
``feeds/...`` gets either the old build or the new one, never a mix, and a process killed at any
moment leaves the link pointing at a complete build. A reader that keeps a directory handle
open across a publish keeps reading the build it opened; the previous build is kept for
rollback (point the link back) and older ones are removed by the next publish, together with
staging folders a killed publish left behind.

Migration: when the publish directory is a real folder (an older feed, a git clone), it is
moved into the builds folder once and replaced by the link; only that first swap has a short
moment without the directory.

``--git``: the history lives in ``.<name>.git`` beside the link, and every build holds a ``.git``
file pointing there, so ``git -C feeds log`` works as in any clone. One commit per publish, then
a push when the repository has a remote.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from c2tracker.errors import C2TrackerError, PublishError
from c2tracker.feeds.base import Exporter, FamilyInfo, FeedContext, WrittenFile
from c2tracker.feeds.build import build_feeds
from c2tracker.feeds.delta import compute_delta
from c2tracker.feeds.formats import standard_exporters
from c2tracker.feeds.manifest import (
    MANIFEST_NAME,
    STATUS_NAME,
    Manifest,
    build_manifest,
    build_status,
    data_source,
    read_manifest,
)
from c2tracker.feeds.reports import write_rule_report
from c2tracker.feeds.validate import validate_build
from c2tracker.feeds.webhook import announce
from c2tracker.model import IndicatorStatus
from c2tracker.settings import Settings

__all__ = ["builds_dir", "git_dir", "publish"]

log = logging.getLogger(__name__)

#: Runs read for the windows and the status file.
RUNS_READ = 20
_GIT_AUTHOR = ("C2 Tracker", "c2tracker@localhost")
_LOCK_NAME = ".lock"
_URL_CREDENTIALS = re.compile(r"://[^/@\s]+@")


def builds_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.builds"


def git_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.git"


def publish(
    store: Any,
    rules: Iterable[Any],
    out_dir: Path,
    *,
    settings: Settings,
    git: bool = False,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
    exporters: Callable[[FeedContext], list[Exporter]] = standard_exporters,
    webhook_transport: Any = None,
) -> Manifest:
    """Builds, validates and atomically publishes every feed format into ``out_dir``.

    Args:
        store: a :class:`c2tracker.store.Store` (only its read methods are used).
        rules: the rule set (every rule keeps its original-layout file, even when empty).
        out_dir: the publish directory; becomes a link to the current build.
        git: commit the publish (and push when a remote exists).
        progress: called with the number of indicators exported so far.

    Returns:
        The new manifest.

    Raises:
        PublishError: the build or its validation failed (the previous feed is untouched),
            or git failed after the feed was published (the message says so).
    """
    out_dir = Path(os.path.abspath(out_dir))
    builds = builds_dir(out_dir)
    builds.mkdir(parents=True, exist_ok=True)
    with _publish_lock(builds):
        return _publish(
            store,
            rules,
            out_dir,
            builds,
            settings=settings,
            git=git,
            progress=progress,
            now=now,
            exporters=exporters,
            webhook_transport=webhook_transport,
        )


@contextmanager
def _publish_lock(builds: Path) -> Iterator[None]:
    """One publish at a time per directory (a second one would clean the first's staging)."""
    with (builds / _LOCK_NAME).open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError(f"another publish into {builds.parent} is running") from None
        yield


def _publish(
    store: Any,
    rules: Iterable[Any],
    out_dir: Path,
    builds: Path,
    *,
    settings: Settings,
    git: bool,
    progress: Callable[[int], None] | None,
    now: datetime | None,
    exporters: Callable[[FeedContext], list[Exporter]],
    webhook_transport: Any,
) -> Manifest:
    previous_root = out_dir.resolve() if out_dir.exists() else None
    previous_manifest = _readable_manifest(previous_root)

    runs = list(store.runs(limit=RUNS_READ))
    families = [
        rule if isinstance(rule, FamilyInfo) else FamilyInfo.from_rule(rule) for rule in rules
    ]
    context = FeedContext.create(
        families,
        generated_at=now,
        runs=runs,
        block_min_confidence=settings.block_min_confidence,
    )
    build_id = f"{context.generated_at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    staging = builds / f"tmp-{build_id}"
    staging.mkdir()
    try:
        manifest = _build(
            store,
            context,
            runs,
            staging,
            build_id,
            previous_root,
            previous_manifest,
            exporters,
            progress,
            settings,
        )
        if git:
            _link_git(staging, out_dir)
        final = builds / build_id
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous_root = _swap(out_dir, final, builds) or previous_root
    _clean(builds, keep={final.name, previous_root.name if previous_root else ""})
    log.info("published build %s into %s", build_id, out_dir)

    if git:
        _git_commit(out_dir, manifest)
    if settings.webhook_url is not None:
        announce(
            settings.webhook_url.get_secret_value(),
            settings.webhook_style,
            _delta_of(manifest, final),
            build=build_id,
            generated_at=manifest.generated_at,
            stale=bool(manifest.counts.get("stale", 0)),
            transport=webhook_transport,
        )
    return manifest


def _longest_window(settings: Settings) -> int:
    """Days after which every indicator of a run has expired (the longest lifecycle window)."""
    return max(
        [
            settings.window_days,
            *settings.window_days_by_category.values(),
            *settings.window_days_by_family.values(),
        ]
    )


def _readable_manifest(root: Path | None) -> Manifest | None:
    if root is None:
        return None
    try:
        return read_manifest(root)
    except PublishError as exc:
        log.warning("previous feed: %s; deltas start afresh", exc)
        return None


def _build(
    store: Any,
    context: FeedContext,
    runs: list[Any],
    root: Path,
    build_id: str,
    previous_root: Path | None,
    previous_manifest: Manifest | None,
    exporters: Callable[[FeedContext], list[Exporter]],
    progress: Callable[[int], None] | None,
    settings: Settings,
) -> Manifest:
    source = data_source(
        runs, generated_at=context.generated_at, window=timedelta(days=_longest_window(settings))
    )
    try:
        result = build_feeds(
            store.iter_indicators(status=IndicatorStatus.ACTIVE),
            exporters(context),
            context,
            root,
            progress=progress,
        )
        files: list[WrittenFile] = list(result.files)
        latest = runs[0].id if runs else None
        files += write_rule_report(root, store.rule_stats(latest), context.families)
        delta = compute_delta(
            root,
            previous_root if previous_manifest else None,
            previous_manifest.build if previous_manifest else None,
        )
        files += delta.files
        (root / "delta" / "summary.json").write_bytes(
            orjson.dumps(
                {
                    "added_by_family": delta.added_by_family,
                    "removed_by_family": delta.removed_by_family,
                    "sample_added": delta.sample_added,
                    "previous_build": delta.previous_build,
                }
            )
        )
        files.append(WrittenFile("delta/summary.json", "delta", 1, unit="summary"))

        failed = list(store.query_runs(runs[0].id)) if runs else []
        status = build_status(
            generated_at=context.generated_at,
            runs=runs,
            failed_queries=failed,
            engines=store.engine_status(),
            source=source,
        )
        (root / STATUS_NAME).write_bytes(orjson.dumps(status, option=orjson.OPT_INDENT_2))
        files.append(WrittenFile(STATUS_NAME, "status", 1, unit="status"))
    except C2TrackerError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise PublishError(f"building the feed failed: {type(exc).__name__}: {exc}") from exc

    counts = {
        "indicators": result.indicators,
        "addresses": result.addresses,
        "added": delta.added,
        "removed": delta.removed,
        "stale": int(status["stale"]),
    }
    manifest = build_manifest(
        root,
        files,
        generated_at=context.generated_at,
        build=build_id,
        run=context.run,
        counts=counts,
        source=source,
    )
    (root / MANIFEST_NAME).write_bytes(manifest.to_json())
    validate_build(root, manifest, result.expected)
    return manifest


def _swap(link: Path, target: Path, builds: Path) -> Path | None:
    """Points ``link`` at ``target`` atomically; returns where a migrated folder went."""
    moved: Path | None = None
    if link.exists() and not link.is_symlink():
        # First publish over a real folder: move it into the builds (kept as the rollback).
        moved = builds / f"legacy-{target.name}"
        if (link / ".git").is_dir() and not git_dir(link).exists():
            os.rename(link / ".git", git_dir(link))
        os.rename(link, moved)
    temporary = link.parent / f".{link.name}.swap-{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(os.path.relpath(target, link.parent), temporary)
    os.replace(temporary, link)
    return moved


def _clean(builds: Path, keep: set[str]) -> None:
    """Removes every build but the current and previous one, and killed publishes' leftovers."""
    for entry in builds.iterdir():
        if entry.name in keep or entry.name == _LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _delta_of(manifest: Manifest, root: Path) -> Any:
    from c2tracker.feeds.delta import Delta

    summary = orjson.loads((root / "delta" / "summary.json").read_bytes())
    return Delta(
        previous_build=summary["previous_build"],
        added=manifest.counts.get("added", 0),
        removed=manifest.counts.get("removed", 0),
        added_by_family=summary["added_by_family"],
        removed_by_family=summary["removed_by_family"],
        sample_added=summary["sample_added"],
    )


def _link_git(build: Path, out_dir: Path) -> None:
    repository = git_dir(out_dir)
    if not repository.exists():
        _git(["init", "-q", "--bare", str(repository)])
        _git(["--git-dir", str(repository), "config", "core.bare", "false"])
    (build / ".git").write_text(f"gitdir: {repository}\n", encoding="utf-8")


def _git(arguments: list[str], cwd: Path | None = None) -> str:
    try:
        completed = subprocess.run(
            ["git", *arguments], cwd=cwd, capture_output=True, text=True, check=True, timeout=600
        )
    except FileNotFoundError:
        raise PublishError("--git needs the git command, which is not installed") from None
    except subprocess.CalledProcessError as exc:
        # Remote URLs may carry a token (https://user:token@host/…): never echo one.
        detail = _URL_CREDENTIALS.sub("://***@", (exc.stderr or "").strip())
        raise PublishError(f"git {arguments[0]} failed: {detail}") from None
    except subprocess.TimeoutExpired:
        raise PublishError(f"git {arguments[0]} timed out") from None
    return completed.stdout


def _git_commit(out_dir: Path, manifest: Manifest) -> None:
    """One commit for this publish, pushed when a remote exists. The feed is already out."""
    work = out_dir.resolve()
    identity: list[str] = []
    try:
        _git(["config", "user.email"], cwd=work)
    except PublishError:
        identity = ["-c", f"user.name={_GIT_AUTHOR[0]}", "-c", f"user.email={_GIT_AUTHOR[1]}"]
    counts = manifest.counts
    message = (
        f"Feed publish {manifest.build}: {counts.get('indicators', 0)} indicators "
        f"(+{counts.get('added', 0)} / -{counts.get('removed', 0)})"
    )
    try:
        _git(["add", "-A", "."], cwd=work)
        _git([*identity, "commit", "-q", "--allow-empty", "-m", message], cwd=work)
        remotes = _git(["remote"], cwd=work).split()
        if remotes:
            branch = _git(["symbolic-ref", "--short", "HEAD"], cwd=work).strip()
            _git(["push", "-q", remotes[0], f"HEAD:refs/heads/{branch}"], cwd=work)
            log.info("pushed publish %s to git remote %s", manifest.build, remotes[0])
    except PublishError as exc:
        raise PublishError(f"the feed was published, but {exc}") from None
