"""Initial library schema: encoder, videos, segments, index_state, runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "encoder",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("arch", sa.String(64), nullable=False),
        sa.Column("pretrained", sa.Text(), nullable=False),
        sa.Column("adapter_hash", sa.String(128), nullable=True),
        sa.Column("embed_dim", sa.Integer(), nullable=False),
        sa.Column("info_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False, unique=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("mtime_ns", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("codec", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("indexed_at", sa.DateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sqlite_autoincrement=True,  # ids are never reused: a FAISS id always means one vector
    )
    op.create_index("ix_segments_video_id", "segments", ["video_id"])
    op.create_table(
        "index_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("faiss_version", sa.Integer(), nullable=False),
        sa.Column("faiss_file", sa.Text(), nullable=True),
        sa.Column("index_type", sa.String(32), nullable=False),
        sa.Column("ntotal", sa.Integer(), nullable=False),
        sa.Column("id_checksum", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("videos_indexed", sa.Integer(), nullable=False),
        sa.Column("segments_added", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("runs")
    op.drop_table("index_state")
    op.drop_index("ix_segments_video_id", table_name="segments")
    op.drop_table("segments")
    op.drop_table("videos")
    op.drop_table("encoder")
