"""Drop the whole-video embedding (videos.embedding): nothing searched it, and it cost one
extra encoder pass per multi-segment video.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops a column in place. Batch mode's copy-and-rename would drop the
        # old table, and with foreign keys on that cascades to every segment row.
        op.execute("ALTER TABLE videos DROP COLUMN embedding")
    else:
        op.drop_column("videos", "embedding")


def downgrade() -> None:
    op.add_column("videos", sa.Column("embedding", sa.LargeBinary(), nullable=True))
