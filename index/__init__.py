"""Embeddings at rest: a video library of catalog rows (SQLite by default) and FAISS vectors.

Start at :mod:`tempme.index.library` (``Library``, the facade over catalog, store, ingest and
query) and :mod:`tempme.index.cli` (the commands); docs/architecture.md walks through the parts.
"""
