"""Where observations come from: Shodan, Censys Platform, legacy Censys and scan files.

:mod:`.http` is the one HTTP client (rate limit, timeouts, bounded retries); :mod:`.shodan`,
:mod:`.censys_platform` and :mod:`.censys_legacy` speak each engine's API; :mod:`.planner`
decides how each query starts and what it may spend; :mod:`.runner` fetches page by page into
the store's :class:`~c2tracker.model.RunRecorder`; :mod:`.scanfiles` runs the offline matcher
over local files into the same recorder; :mod:`.engines` builds the sources from settings, and
:func:`collect` (:mod:`.collection`) runs all of it as one library call.
"""

from __future__ import annotations

from c2tracker.sources.collection import (
    CollectProgress,
    CollectReport,
    QuietProgress,
    ScanResult,
    collect,
)

__all__ = ["CollectProgress", "CollectReport", "QuietProgress", "ScanResult", "collect"]
