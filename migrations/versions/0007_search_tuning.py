"""How the vector index is searched, as the library tuned it (issue 30): ``index_state`` gains
the tuned ``nprobe`` and re-rank factor, the recall@10 and p50 measured at them, how many of the
library's vectors were the queries, and what was asked (a target recall or a latency budget).
All nullable: NULL means "not tuned" (the settings' nprobe and the default re-rank apply).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("nprobe", sa.Integer),
    ("rerank", sa.Integer),
    ("tuned_recall", sa.Float),
    ("tuned_p50_ms", sa.Float),
    ("tuned_queries", sa.Integer),
    ("target_recall", sa.Float),
    ("max_ms", sa.Float),
)


def upgrade() -> None:
    with op.batch_alter_table("index_state") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("index_state") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
