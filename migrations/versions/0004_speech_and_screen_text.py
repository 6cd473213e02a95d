"""Transcripts and on-screen text: ``enrichments`` (what was processed, with what result),
``text_lines`` (utterances and OCR lines with their video, segment and times) and full-text
search over them: an FTS5 table (BM25) kept in step by triggers on SQLite, a GIN index over
``to_tsvector('english', text)`` on PostgreSQL.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS_SQLITE = [
    # external-content FTS5: the text lives once, in text_lines; porter stemming over unicode61
    "CREATE VIRTUAL TABLE text_lines_fts USING fts5(text, content='text_lines', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER text_lines_ai AFTER INSERT ON text_lines BEGIN "
    "INSERT INTO text_lines_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER text_lines_ad AFTER DELETE ON text_lines BEGIN "
    "INSERT INTO text_lines_fts(text_lines_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER text_lines_au AFTER UPDATE ON text_lines BEGIN "
    "INSERT INTO text_lines_fts(text_lines_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO text_lines_fts(rowid, text) VALUES (new.id, new.text); END",
]


def upgrade() -> None:
    op.create_table(
        "enrichments",
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "text_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("segment_id", sa.Integer(), sa.ForeignKey("segments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("words_json", sa.Text(), nullable=True),
        sa.Column("box_json", sa.Text(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_text_lines_video_kind", "text_lines", ["video_id", "kind"])
    op.create_index("ix_text_lines_segment", "text_lines", ["segment_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for stmt in FTS_SQLITE:
            op.execute(stmt)
    elif dialect == "postgresql":
        op.execute("CREATE INDEX ix_text_lines_tsv ON text_lines USING GIN (to_tsvector('english', text))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("text_lines_ai", "text_lines_ad", "text_lines_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS text_lines_fts")
    op.drop_index("ix_text_lines_segment", table_name="text_lines")
    op.drop_index("ix_text_lines_video_kind", table_name="text_lines")
    op.drop_table("text_lines")
    op.drop_table("enrichments")
