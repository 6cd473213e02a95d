"""Alembic environment and revisions for the library database (``tempme.index.catalog.models``).

Shipped inside the package; :func:`tempme.index.catalog.db.upgrade` runs ``alembic upgrade head`` on a
library's database programmatically, so users never call alembic themselves. Developers add
a revision with ``alembic -c migrations/alembic.ini revision --autogenerate -m "..."``.
"""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent
# The newest revision in versions/, so that opening an up-to-date library does not import
# Alembic (about a quarter of a second); tests/test_index_migrations.py checks it against
# Alembic's own script directory. Bump it with every new revision.
HEAD_REVISION = "0009"
