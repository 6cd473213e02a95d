"""Embeddings at rest: a video library of SQLite rows and FAISS vectors, indexed and searched.

Start at :mod:`index.library` (the ``Library`` API) and :mod:`index.cli` (the commands).
"""
