"""Jobs (API uploads and folder indexing, seen by every server process) and API keys (only
their SHA-256 stored).

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("videos_total", sa.Integer(), nullable=False),
        sa.Column("videos_done", sa.Integer(), nullable=False),
        sa.Column("total_s", sa.Float(), nullable=False),
        sa.Column("done_s", sa.Float(), nullable=False),
        sa.Column("current", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("paths_json", sa.Text(), nullable=False),
        sa.Column("videos_json", sa.Text(), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.create_index("ix_api_keys_prefix", ["prefix"])


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_prefix")
    op.drop_table("api_keys")
    op.drop_table("jobs")
