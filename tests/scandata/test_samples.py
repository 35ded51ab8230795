"""The sample generator and the committed sample."""

from __future__ import annotations

import gzip
import ipaddress
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from c2tracker.filters.bogons import bogon_reason
from c2tracker.matching import Matcher, detect_engine, fingerprints as fp
from c2tracker.model import Fidelity
from c2tracker.querylang.ast import Engine
from c2tracker.rules import load_rules
from c2tracker.rules.model import Rule, RuleQuery
from c2tracker.scandata import ReadStats, iter_records, sample_paths
from c2tracker.scandata.samples import LOOK_ALIKES, generate, main, write_sample


@pytest.fixture(scope="module")
def rules() -> list[Any]:
    return list(load_rules())


@pytest.fixture(scope="module")
def matcher(rules: list[Any]) -> Matcher:
    return Matcher(rules)


def _ip_of(record: dict[str, Any]) -> str:
    if "ip_str" in record:
        return str(record["ip_str"])
    host = record.get("host_v1", {}).get("resource", record)
    return str(host["ip"])


def _read(name: str) -> list[tuple[Engine | None, dict[str, Any]]]:
    paths = [p for p in sample_paths() if p.name == name]
    assert len(paths) == 1, f"{name} missing from the bundled sample"
    stats = ReadStats()
    records = [(r.engine, r.data) for r in iter_records(paths, stats)]
    assert stats.error_count == 0, stats.summary()
    return records


def test_bundled_sample_is_small_and_shipped_in_the_package() -> None:
    paths = sample_paths()
    assert [p.name for p in paths] == ["benign.json.gz", "honeypots.json.gz", "positives.json.gz"]
    assert all("c2tracker/scandata/sample" in p.as_posix() for p in paths)
    assert sum(p.stat().st_size for p in paths) < 2 * 1024 * 1024
    total = sum(len(_read(p.name)) for p in paths)
    assert 2000 <= total <= 6000


def test_every_rule_matches_a_sample_record_for_every_engine_it_has_queries_for(
    rules: list[Any], matcher: Matcher
) -> None:
    wanted = {(rule.id, Engine(q.engine)) for rule in rules for q in rule.queries}
    found: set[tuple[str, Engine]] = set()
    for engine, record in _read("positives.json.gz"):
        assert engine is not None
        found.update((o.rule_id, o.engine) for o in matcher.match(record, engine))
    missing = sorted(wanted - found)
    assert missing == [], (
        "regenerate the sample: python -m c2tracker.scandata.samples "
        f"--out src/c2tracker/scandata/sample (rules without a positive: {missing})"
    )


def test_benign_look_alikes_match_no_rule(matcher: Matcher) -> None:
    records = _read("benign.json.gz")
    engines = {engine for engine, _ in records}
    assert engines == {Engine.SHODAN, Engine.CENSYS, Engine.CENSYS_LEGACY}
    hits = [(_ip_of(r), o.rule_id) for e, r in records for o in matcher.match(r, e)]
    assert hits == []


def test_benign_set_covers_the_promised_look_alikes() -> None:
    banners = [r for e, r in _read("benign.json.gz") if e is Engine.SHODAN]
    servers = {str(b["http"].get("server")) for b in banners if b.get("http")}
    issuers = {b["ssl"]["cert"]["issuer"].get("O") for b in banners if "ssl" in b}
    titles = {b["http"].get("title") for b in banners if b.get("http")}
    assert any(s.startswith("nginx") for s in servers)
    assert any(s.startswith("Apache/") for s in servers)
    assert "Microsoft-IIS/10.0" in servers
    assert any(s.startswith(("Jetty", "Apache-Coyote")) for s in servers)
    assert {"Let's Encrypt", "Internet Widgits Pty Ltd"} <= issuers
    assert {"Sign in to your account", "Welcome to nginx!", "404 Not Found"} <= titles
    assert any("self-signed" in b["tags"] for b in banners)


def test_honeypots_answer_as_many_families(matcher: Matcher) -> None:
    families: dict[tuple[str, Engine], set[str]] = defaultdict(set)
    tagged = set()
    for engine, record in _read("honeypots.json.gz"):
        assert engine is not None
        families[(_ip_of(record), engine)].update(o.rule_id for o in matcher.match(record, engine))
        if "honeypot" in record.get("tags", []):
            tagged.add(_ip_of(record))
    assert len(families) >= 3
    assert {e for _, e in families} == {Engine.SHODAN, Engine.CENSYS, Engine.CENSYS_LEGACY}
    assert all(len(rules) >= 5 for rules in families.values()), families
    assert tagged


def test_sample_addresses_are_public_and_hashes_consistent() -> None:
    for name in ("positives.json.gz", "benign.json.gz"):
        for engine, record in _read(name):
            address = ipaddress.ip_address(_ip_of(record))
            assert address.is_global and bogon_reason(address) is None, address
            assert str(address) not in ("8.8.8.8", "1.1.1.1")
            if engine is Engine.SHODAN and name == "benign.json.gz":
                assert record["hash"] == fp.banner_hash(record["data"])
                http = record.get("http")
                if http:
                    assert http["html_hash"] == fp.html_hash(http["html"])
                    assert http["headers_hash"] == fp.headers_hash(record["data"])
                    if http["title"] is not None:
                        assert http["title_hash"] == fp.title_hash(http["title"])
                    if http["favicon"]:
                        assert http["favicon"]["hash"] == fp.mmh3_text(http["favicon"]["data"])


@pytest.mark.slow
def test_generator_is_deterministic_for_a_seed(rules: list[Any], tmp_path: Path) -> None:
    subset = [rule for rule in rules if rule.id in {"cobalt-strike", "sliver", "havoc", "nanocore"}]
    first = write_sample(generate(subset, seed=7, size=200), tmp_path / "a")
    second = write_sample(generate(subset, seed=7, size=200), tmp_path / "b")
    other = write_sample(generate(subset, seed=8, size=200), tmp_path / "c")

    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert [p.read_bytes() for p in first] != [p.read_bytes() for p in other]
    lines = gzip.decompress(first[0].read_bytes()).splitlines()
    assert lines and all(detect_engine(json.loads(line)) for line in lines)


def _with_queries(rule: Rule, *queries: tuple[Engine, str]) -> Rule:
    """``rule`` with its queries replaced (the tests of other engines are then skipped)."""
    built = [RuleQuery(engine=e, query=q, fidelity=Fidelity.LOW) for e, q in queries]
    return rule.model_copy(update={"queries": built})


@pytest.mark.slow
def test_generator_reports_the_former_false_positives(rules: list[Any]) -> None:
    # The queries as they were before the pinned look-alikes existed: a substring "unk" hits
    # Java keytool's CN=Unknown, and "Acme Co" on 8443 is any Go server using the certificate
    # of Go's generate_cert.go. The generator must report both and keep them out of the file.
    by_id = {rule.id: rule for rule in rules}
    subset = [
        _with_queries(
            by_id["nanocore"],
            (
                Engine.CENSYS_LEGACY,
                'services.tls.certificates.leaf_data.subject.common_name: "unk"',
            ),
        ),
        _with_queries(
            by_id["deimos-c2"],
            (
                Engine.CENSYS,
                'host.services: ((endpoints.http.html_title = "Deimos C2" or '
                'cert.parsed.subject.organization = "Acme Co") and port: 8443)',
            ),
        ),
    ]

    sample = generate(subset, seed=3, size=600)

    reported = {label.split(" <- ")[0] for label in sample.benign_matches}
    assert reported == {"nanocore", "deimos-c2"}
    assert any("8443, certificate O=Acme Co" in label for label in sample.benign_matches)
    matcher = Matcher(subset)
    assert not any(matcher.match(r) for r in sample.files["benign.json.gz"])


def _service_view(engine: Engine, record: dict[str, Any]) -> tuple[int, str | None, str | None]:
    """(port, title, JARM) of a one-service benign record, whatever its engine."""
    if engine is Engine.SHODAN:
        jarm = record.get("ssl", {}).get("jarm")
        return record["port"], record.get("http", {}).get("title"), jarm
    host = record.get("host_v1", {}).get("resource", record)
    service = host["services"][0]
    if engine is Engine.CENSYS:
        http = (service.get("endpoints") or [{}])[0].get("http", {})
    else:
        http = service.get("http", {}).get("response", {})
    return service["port"], http.get("html_title"), service.get("jarm", {}).get("fingerprint")


def test_benign_set_holds_every_pinned_look_alike_for_every_engine() -> None:
    seen: set[tuple[str, Engine]] = set()
    for engine, record in _read("benign.json.gz"):
        assert engine is not None
        port, title, jarm = _service_view(engine, record)
        for spec in LOOK_ALIKES:
            if (port, title or "", jarm) == (spec.port, spec.title, spec.jarm):
                seen.add((spec.name, engine))

    wanted = {(spec.name, engine) for spec in LOOK_ALIKES for engine in Engine}
    assert wanted - seen == set()


@pytest.mark.slow
def test_cli_writes_files_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    source = next(Path(__file__).resolve().parents[2].glob("rules/*/havoc.yml"))
    (rules_dir / "c2").mkdir()
    (rules_dir / "c2" / "havoc.yml").write_text(source.read_text())

    code = main(["--out", str(tmp_path / "out"), "--size", "120", "--rules", str(rules_dir)])

    err = capsys.readouterr().err
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "benign.json.gz",
        "honeypots.json.gz",
        "positives.json.gz",
    ]
    assert "positives.json.gz" in err
    assert main(["--out", str(tmp_path / "x"), "--rules", str(tmp_path / "nope")]) == 2
