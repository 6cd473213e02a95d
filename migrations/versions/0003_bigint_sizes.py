"""64-bit file sizes, modification times and the id checksum.

``videos.size`` (bytes), ``videos.mtime_ns`` (ns since 1970: ~1.7e18) and
``index_state.id_checksum`` (mod 2**61 - 1) overflow PostgreSQL's 32-bit INTEGER; they become
BIGINT there. SQLite's INTEGER already stores up to 8 bytes, so on SQLite libraries the revision
only moves them to this version (no table copy: batch mode's copy-and-rename would cascade
deletes to every segment, see 0002).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [("videos", "size"), ("videos", "mtime_ns"), ("index_state", "id_checksum")]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
