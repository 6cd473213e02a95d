"""The search form and phones of each utterance (issue 26): ``text_lines.search_text`` and
``text_lines.phones``, full-text search over the text *and* its search form (FTS5 with two
columns on SQLite; a GIN index over ``to_tsvector('english', text || ' ' || search_text)`` on
PostgreSQL), and a backfill of both for the utterances of libraries indexed before
(:func:`tempme.index.words.forms.speech_forms` from the stored words; no audio is decoded).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = ("text_lines_ai", "text_lines_ad", "text_lines_au")


def fts_sqlite(columns: Sequence[str]) -> list[str]:
    """The external-content FTS5 table over ``columns`` of text_lines, its triggers, its rebuild
    (0004's statements for ``["text"]``)."""
    cols = ", ".join(columns)
    new, old = (", ".join(f"{p}.{c}" for c in columns) for p in ("new", "old"))
    delete = f"INSERT INTO text_lines_fts(text_lines_fts, rowid, {cols}) VALUES ('delete', old.id, {old});"
    insert = f"INSERT INTO text_lines_fts(rowid, {cols}) VALUES (new.id, {new});"
    return [
        f"CREATE VIRTUAL TABLE text_lines_fts USING fts5({cols}, content='text_lines', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER text_lines_ai AFTER INSERT ON text_lines BEGIN {insert} END",
        f"CREATE TRIGGER text_lines_ad AFTER DELETE ON text_lines BEGIN {delete} END",
        f"CREATE TRIGGER text_lines_au AFTER UPDATE ON text_lines BEGIN {delete} {insert} END",
        "INSERT INTO text_lines_fts(text_lines_fts) VALUES ('rebuild')",
    ]


PG_TSV = "to_tsvector('english', text || ' ' || coalesce(search_text, ''))"


def drop_fts_sqlite() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS text_lines_fts")


def backfill(bind, batch: int = 500) -> None:
    """Search forms and phones of every stored utterance that has words and no search form."""
    from tempme.index.words.forms import speech_forms

    t = sa.table(
        "text_lines",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("words_json", sa.Text),
        sa.column("search_text", sa.Text),
        sa.column("phones", sa.Text),
    )
    rows = bind.execute(
        sa.select(t.c.id, t.c.words_json).where(
            t.c.kind == "speech", t.c.words_json.is_not(None), t.c.search_text.is_(None)
        )
    ).all()
    for at in range(0, len(rows), batch):
        updates = []
        for line_id, words_json in rows[at : at + batch]:
            forms = speech_forms([str(w[0]) for w in json.loads(words_json)])
            updates.append({"b_id": line_id, "b_search": forms.search_text, "b_phones": forms.phones})
        stmt = t.update().where(t.c.id == sa.bindparam("b_id"))
        bind.execute(stmt.values(search_text=sa.bindparam("b_search"), phones=sa.bindparam("b_phones")), updates)


def upgrade() -> None:
    op.add_column("text_lines", sa.Column("search_text", sa.Text(), nullable=True))
    op.add_column("text_lines", sa.Column("phones", sa.Text(), nullable=True))
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == "sqlite":
        drop_fts_sqlite()  # the old triggers would index only ``text``
    backfill(bind)
    if dialect == "sqlite":
        for stmt in fts_sqlite(["text", "search_text"]):
            op.execute(stmt)
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_text_lines_tsv")
        op.execute(f"CREATE INDEX ix_text_lines_tsv ON text_lines USING GIN ({PG_TSV})")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        drop_fts_sqlite()
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_text_lines_tsv")
    with op.batch_alter_table("text_lines") as batch:
        batch.drop_column("phones")
        batch.drop_column("search_text")
    if dialect == "sqlite":
        for stmt in fts_sqlite(["text"]):
            op.execute(stmt)
    elif dialect == "postgresql":
        op.execute("CREATE INDEX ix_text_lines_tsv ON text_lines USING GIN (to_tsvector('english', text))")
