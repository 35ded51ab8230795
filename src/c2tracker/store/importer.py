"""Importing the original C2-Tracker feed, so its users keep their history.

Two inputs (landscape.md §1.1 describes the layout):

- a ``data/`` folder (or a checkout containing one): files ``data/<Family> IPs.txt``, one IP a
  line; ``all.txt`` is the union of the others and is ignored. The folder becomes one snapshot
  dated now.
- with ``history=True``, a git clone: every commit that touched ``data/`` becomes one snapshot,
  dated by its commit date, read with ``git log`` and ``git cat-file --batch`` (one long-lived
  process; unchanged files are read once, since their blob ids repeat across commits). A commit
  already imported (same commit id) is skipped, so an import can be re-run to pick up new
  commits.

Each snapshot is one run of kind ``import`` (source ``import:c2-tracker``). Each family file is
one query run on the pseudo-engine ``c2-tracker`` whose query names the rule, so every file name
the family ever had refreshes the same query and ages the same indicators (lifecycle rule 4).
A family whose file is missing from a snapshot gets no query run there: the original deleted
empty files, and also lost files when a query failed, so a missing file is not evidence that
the family's servers went away, and its indicators do not age in that snapshot.

File names are mapped onto rules by a spelling-insensitive key of the rule's ``feed_name``,
``extra_feed_names``, name, id and aliases (feed names win over the rest). A name no rule
claims is *not* dropped: it is imported under a synthetic family ``c2-tracker-<slug>`` (kind
``unmapped``, category guessed from the name: "C2" → c2, stealer/RAT/trojan/loader → malware,
botnet → botnet, else tool, which is marked dual-use so that guesses stay out of blocklists) and
listed in the report so a rule can be written for it.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from c2tracker.errors import StoreError
from c2tracker.model import Category, QueryOutcome
from c2tracker.store.rulemeta import RuleMeta, extra_feed_names, name_key
from c2tracker.store.store import Store
from c2tracker.store.tables import FAMILIES, RUNS, now
from c2tracker.store.values import classify_ip

log = logging.getLogger(__name__)

SOURCE = "import:c2-tracker"
ENGINE = "c2-tracker"
_FILE = re.compile(r"^(?:.*/)?data/(?P<name>.+) IPs\.txt$")
_ROWS_PER_PAGE = 5000


@dataclass(slots=True)
class ImportReport:
    snapshots: int = 0
    skipped_snapshots: int = 0
    """Commits imported before (same commit id)."""
    observations: int = 0
    refused: int = 0
    """Lines that were not usable addresses or were bogons (stored, with the reason)."""
    mapped: dict[str, str] = field(default_factory=dict)
    """File family name → rule id."""
    unmapped: dict[str, str] = field(default_factory=dict)
    """File family name no rule claims → the synthetic family it was imported under."""
    ignored_files: set[str] = field(default_factory=set)
    runs: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Snapshot:
    label: str
    """Commit id (history) or folder path."""
    when: datetime
    files: dict[str, str]
    """Family name (from the file name) → file text."""
    ignored: tuple[str, ...] = ()


def import_c2_tracker(
    store: Store,
    path: Path,
    rules: Iterable[RuleMeta],
    *,
    history: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Imports a C2-Tracker ``data/`` folder or (``history``) every snapshot of a git clone.

    Raises:
        StoreError: the path is not a C2-Tracker folder or git clone.
    """
    rule_list = list(rules)
    mapper = _NameMapper(rule_list)
    report = ImportReport()
    snapshots = list(_git_snapshots(path)) if history else [_folder_snapshot(path)]
    done = _imported_labels(store) if history else set()

    for index, snapshot in enumerate(snapshots, start=1):
        if progress is not None:
            progress(index, len(snapshots))
        report.ignored_files.update(snapshot.ignored)
        if snapshot.label in done:
            report.skipped_snapshots += 1
            continue
        _import_snapshot(store, snapshot, mapper, rule_list, report)
    return report


def _import_snapshot(
    store: Store,
    snapshot: Snapshot,
    mapper: _NameMapper,
    rules: list[RuleMeta],
    report: ImportReport,
) -> None:
    # Families first: making one writes to the store, which must not wait inside the bulk
    # section below.
    files: list[tuple[str, str, str]] = []
    for name, text in sorted(snapshot.files.items()):
        rule_id = mapper.rule_for(name)
        if rule_id is None:
            rule_id = _synthetic_family(store, name)
            report.unmapped[name] = rule_id
        else:
            report.mapped[name] = rule_id
        files.append((name, text, rule_id))

    with store.begin_run(
        [SOURCE], kind="import", started_at=snapshot.when, label=snapshot.label
    ) as run:
        with run.bulk():
            for name, text, rule_id in files:
                qrid = run.start_query(rule_id, ENGINE, f"C2-Tracker feed file of {rule_id}")
                evidence = {"c2-tracker.file": f"data/{name} IPs.txt", "snapshot": snapshot.label}
                rows = []
                for line in text.splitlines():
                    value = line.strip()
                    if not value or value.startswith("#"):
                        continue
                    ip, drop = classify_ip(value)
                    report.refused += drop is not None
                    rows.append(
                        (
                            ip,
                            None,
                            "tcp",
                            None,
                            evidence,
                            None,
                            None,
                            None,
                            None,
                            None,
                            SOURCE,
                            drop,
                        )
                    )
                for page, start in enumerate(range(0, max(len(rows), 1), _ROWS_PER_PAGE), 1):
                    run.record_rows(qrid, page, rows[start : start + _ROWS_PER_PAGE])
                report.observations += len(rows)
                run.finish_query(qrid, QueryOutcome.OK)
        store.finish_run(run, rules)
        report.runs.append(run.run_id)
        report.snapshots += 1


class _NameMapper:
    """C2-Tracker file family names → rule ids (see the module docstring)."""

    def __init__(self, rules: list[RuleMeta]) -> None:
        weak: dict[str, str] = {}
        strong: dict[str, str] = {}
        for rule in rules:
            for name in (rule.feed_name, *extra_feed_names(rule)):
                if name:
                    strong.setdefault(name_key(name), rule.id)
            for name in (rule.name, rule.id, *rule.aliases):
                if name:
                    weak.setdefault(name_key(name), rule.id)
        self._keys = {**weak, **strong}

    def rule_for(self, name: str) -> str | None:
        key = name_key(name)
        return self._keys.get(key) or self._keys.get(name_key(re.sub(r"\s+C2$", "", name)))


def _guess_category(name: str) -> Category:
    lowered = name.lower()
    if re.search(r"\bc2\b", lowered):
        return Category.C2
    if re.search(r"stealer|rat\b|trojan|loader", lowered):
        return Category.MALWARE
    if "botnet" in lowered:
        return Category.BOTNET
    return Category.TOOL


def _synthetic_family(store: Store, name: str) -> str:
    rule_id = "c2-tracker-" + (re.sub(r"[^0-9a-z]+", "-", name.lower()).strip("-") or "unnamed")
    with store._write.begin() as conn:
        known = conn.execute(select(FAMILIES.c.rule_id).where(FAMILIES.c.rule_id == rule_id))
        if known.first() is None:
            category = _guess_category(name)
            conn.execute(
                insert(FAMILIES).values(
                    rule_id=rule_id,
                    name=name,
                    feed_name=name,
                    category=category.value,
                    kind="unmapped",
                    dual_use=category is Category.TOOL,
                    malpedia="[]",
                    mitre="[]",
                    aliases="[]",
                    synthetic=True,
                    updated_at=now(),
                )
            )
            log.warning("C2-Tracker family %r matches no rule; imported as %s", name, rule_id)
    return rule_id


def _imported_labels(store: Store) -> set[str]:
    with store._read.connect() as conn:
        return {
            label
            for (label,) in conn.execute(select(RUNS.c.label).where(RUNS.c.kind == "import"))
            if label
        }


def _family_name(path: str) -> str | None:
    match = _FILE.match(path)
    return match.group("name") if match else None


def _data_dir(path: Path) -> Path:
    if (path / "data").is_dir():
        return path / "data"
    if path.is_dir() and (any(path.glob("* IPs.txt")) or path.name == "data"):
        return path
    raise StoreError(f"{path}: not a C2-Tracker data folder (no '<Family> IPs.txt' files)")


def _folder_snapshot(path: Path) -> Snapshot:
    folder = _data_dir(path)
    files: dict[str, str] = {}
    ignored: list[str] = []
    for file in sorted(folder.iterdir()):
        name = _family_name(f"data/{file.name}")
        if name is None or not file.is_file():
            if file.name != "all.txt":
                ignored.append(file.name)
            continue
        files[name] = file.read_text(encoding="utf-8", errors="replace")
    return Snapshot(
        label=f"folder:{folder.resolve()}", when=now(), files=files, ignored=tuple(ignored)
    )


def _git(path: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise StoreError("--history needs git, which is not installed") from None
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[0] if result.stderr.strip() else ""
        raise StoreError(f"{path}: not a readable git clone of C2-Tracker ({message})")
    return result.stdout


def _git_snapshots(path: Path) -> Iterator[Snapshot]:
    log_text = _git(path, "log", "--reverse", "--format=%H %cI", "--", "data/")
    commits = [line.split(" ", 1) for line in log_text.splitlines() if line.strip()]
    if not commits:
        raise StoreError(f"{path}: no commit touches data/; is this a C2-Tracker clone?")

    with _BlobReader(path) as blobs:
        for sha, date in commits:
            when = datetime.fromisoformat(date.strip()).astimezone(UTC)
            files: dict[str, str] = {}
            ignored: list[str] = []
            tree = _git(path, "ls-tree", "-r", sha, "--", "data/")
            for entry in tree.splitlines():
                meta, _, file_path = entry.partition("\t")
                parts = meta.split()
                if len(parts) != 3 or parts[1] != "blob":
                    continue
                name = _family_name(file_path)
                if name is None:
                    if not file_path.endswith("/all.txt") and file_path != "data/all.txt":
                        ignored.append(file_path)
                    continue
                files[name] = blobs.read(parts[2])
            yield Snapshot(label=sha, when=when, files=files, ignored=tuple(ignored))


class _BlobReader:
    """Reads blobs through one ``git cat-file --batch`` process, caching by blob id."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._cache: dict[str, str] = {}

    def __enter__(self) -> _BlobReader:
        self._process = subprocess.Popen(
            ["git", "-C", str(self._path), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)

    def read(self, oid: str) -> str:
        cached = self._cache.get(oid)
        if cached is not None:
            return cached
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(oid.encode() + b"\n")
        stdin.flush()
        header = stdout.readline().split()
        if len(header) != 3:
            raise StoreError(f"{self._path}: git could not read blob {oid}")
        size = int(header[2])
        body = stdout.read(size)
        stdout.read(1)
        text = body.decode("utf-8", errors="replace")
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[oid] = text
        return text


__all__ = ["ENGINE", "SOURCE", "ImportReport", "import_c2_tracker"]
