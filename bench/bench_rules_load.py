"""Loading the rule corpus: libyaml composition against PyYAML's pure-Python composer.

``load_rules`` composes each file into nodes (for file:line:col errors), builds the pydantic
models and parses every query. Both sides run in one process on the same corpus, with the
query grammars already built and the parse cache cleared before every load, so only the
loader differs. A third figure times a fresh interpreter importing the package and loading
the corpus once (what ``c2tracker rules list`` pays), grammar construction included.

Printed: median seconds per load for each composer, their ratio, and the cold-process time.

Run: ``.venv/bin/python bench/bench_rules_load.py`` (9 loads a side) or ``--quick`` (2).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import yaml

from c2tracker.querylang import parse_query
from c2tracker.rules import load_rules, loader

COLD = (
    "import time; t = time.perf_counter(); from c2tracker.rules import load_rules; "
    "load_rules(); print(time.perf_counter() - t)"
)


def median_seconds(load: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        parse_query.cache_clear()
        started = time.perf_counter()
        load()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 loads a side")
    args = parser.parse_args()
    repeats = 2 if args.quick else 9

    rules = len(load_rules())  # builds the grammars once for both sides
    fast_loader = loader._ComposeLoader
    if fast_loader is yaml.SafeLoader:
        print("PyYAML was built without libyaml: nothing to compare", file=sys.stderr)
    fast = median_seconds(load_rules, repeats)
    loader._ComposeLoader = yaml.SafeLoader
    try:
        slow = median_seconds(load_rules, repeats)
    finally:
        loader._ComposeLoader = fast_loader
    cold = float(subprocess.run([sys.executable, "-c", COLD], capture_output=True,
                                text=True, check=True).stdout)  # fmt: skip

    print(f"corpus: {rules} rules, {repeats} loads a side (median)")
    print(f"pure-Python composer: {slow:.3f} s/load")
    print(f"libyaml composer:     {fast:.3f} s/load")
    print(f"ratio pure ÷ libyaml: {slow / fast:.1f}")
    print(f"fresh process, import + load_rules(): {cold:.2f} s")


if __name__ == "__main__":
    main()
