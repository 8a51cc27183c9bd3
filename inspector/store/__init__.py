"""The station's one SQLite file: schema and forward migrations, the part rows the
worker commits, the image archive, the audit trail, station events, the log readers."""

__all__: list[str] = []  # import the modules: `store.db`, `store.inspections`, ...
