"""C2 Tracker: finds command-and-control servers with community fingerprints and publishes them.

The pipeline, one package a stage::

    rules/      rule files (YAML) → validated Rule objects
    querylang/  Shodan, CenQL and legacy Censys queries → one syntax tree
    matching/   the offline engine: syntax tree × scan record → match with evidence
    scandata/   readers for scan files and the bundled sample data
    sources/    Shodan, Censys Platform, legacy Censys and scan files → observations
    filters/    bogons, allowlists, honeypots
    store/      SQLite/PostgreSQL store, indicator lifecycle and confidence
    feeds/      every feed format, published atomically
    server/     HTTP API, TAXII 2.1 and the dashboard
    cli/        the ``c2tracker`` command
"""

__version__ = "0.1.0"
