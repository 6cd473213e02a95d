"""Recording dates and the folder filter's key: ``videos.recorded_at`` (naive UTC, indexed) with
``videos.recorded_source`` (where it came from), and ``videos.folder_key`` (the folder holding
the file, case-folded, ending in ``/``), filled here for every existing row from its stored path.
Recording dates of existing videos are read from their files' headers by the next ``tempme
index`` run (a migration never opens video files).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import posixpath
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5_000


def folder_key(stored_path: str) -> str:
    """``tempme.index.folders.folder_key`` on the stored spelling (case folding leaves the
    catalog's stand-ins for undecodable bytes, U+10FF80..U+10FFFF, as they are), frozen here."""
    head = posixpath.dirname(stored_path)
    return (head if head.endswith("/") else head + "/").casefold()


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("recorded_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("recorded_source", sa.String(48), nullable=True))
        batch.add_column(sa.Column("folder_key", sa.Text(), nullable=True))
        batch.create_index("ix_videos_recorded_at", ["recorded_at"])
    videos = sa.table(
        "videos", sa.column("id", sa.Integer), sa.column("path", sa.Text), sa.column("folder_key", sa.Text)
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(videos.c.id, videos.c.path)).all()
    update = videos.update().where(videos.c.id == sa.bindparam("vid")).values(folder_key=sa.bindparam("key"))
    for start in range(0, len(rows), CHUNK):
        conn.execute(update, [{"vid": i, "key": folder_key(p)} for i, p in rows[start : start + CHUNK]])


def downgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.drop_index("ix_videos_recorded_at")
        batch.drop_column("folder_key")
        batch.drop_column("recorded_source")
        batch.drop_column("recorded_at")
