"""The folder filter as people type it (index/folders.py) and its SQL form (index/catalog/filters.py).

References: hand-written cases for the rule; for the SQL, the pure rule itself on thousands of
generated paths and queries, run in real SQLite and PostgreSQL through SQLAlchemy (the catalog's
spelling of undecodable bytes included).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select
from tempme.index.catalog import to_db
from tempme.index.catalog.filters import folder_clause
from tempme.index.folders import FolderQuery, folder_key, folder_labels, folder_matches

HOLIDAY = "/home/me/Videos/holiday 2023/beach.mp4"


@pytest.mark.parametrize(
    "typed,path,expected",
    [
        ("holiday", HOLIDAY, True),
        ("HOLIDAY", HOLIDAY, True),
        ("Holiday 2023/", HOLIDAY, True),
        ("holiday/", HOLIDAY, False),  # a trailing / ends the folder's name
        ("videos/holiday", HOLIDAY, True),
        ("day 20", HOLIDAY, True),  # partial
        ("beach", HOLIDAY, False),  # the file name is not a folder
        ("holiday 2024", HOLIDAY, False),
        ("./holiday", HOLIDAY, True),
        ("  holiday  ", HOLIDAY, True),
        ("", HOLIDAY, True),  # blank: no filter
        (None, HOLIDAY, True),
        ("edge", "/data/videos/edge/x.webm", True),
        ("edge", "/data/videos/x_edge.webm", False),
        ("a_b", "/v/a_b/x.mp4", True),
        ("a_b", "/v/axb/x.mp4", False),  # _ is not a wildcard
        ("50%", "/v/50% off/x.mp4", True),
        ("50%", "/v/50 off/x.mp4", False),  # % is not a wildcard
        ("%", "/v/plain/x.mp4", False),
        ("*", "/v/plain/x.mp4", False),
        ("[ab]", "/v/a/x.mp4", False),
        ("[ab]", "/v/[ab]/x.mp4", True),
        ("straße", "/v/STRASSE/x.mp4", True),  # Unicode case folding
        ("ÜRLAUB", "/v/urlaub/x.mp4", False),
        ("ÜRLAUB", "/v/Ürlaub/x.mp4", True),
        ("/home/me/videos", HOLIDAY, True),  # absolute: that folder and those inside it
        ("/home/me/Videos/", HOLIDAY, True),
        ("/home/me/Vid", HOLIDAY, False),
        ("/me/Videos", HOLIDAY, False),  # absolute means from the root
        ("/", HOLIDAY, True),
        ("/home/me/Videos/holiday 2023/beach.mp4", HOLIDAY, False),  # a file is not a folder
        ("/home/me/./Videos", HOLIDAY, True),
    ],
)
def test_rule(typed, path, expected) -> None:
    assert folder_matches(path, typed) is expected


def test_keys_and_labels() -> None:
    assert folder_key(HOLIDAY) == "/home/me/videos/holiday 2023/"
    assert folder_key("/clip.mp4") == "/"
    assert FolderQuery.parse("   ") is None and FolderQuery.parse("./") is None
    assert FolderQuery.parse("/a/b/").needle == "/a/b/" and FolderQuery.parse("/a/b/").absolute
    assert folder_labels(["/w/shared/data/videos", "/w/shared/data/videos/edge", "/w/shared/data/videos/long"]) == [
        "videos",
        "videos/edge",
        "videos/long",
    ]
    assert folder_labels(["/a/x", "/b/y"]) == ["a/x", "b/y"]
    assert folder_labels([]) == []
    for label in folder_labels(["/w/data/videos", "/w/data/videos/edge"]):  # each label finds its folder
        assert folder_matches(f"/w/data/{label}/clip.mp4", label)


ALPHABET = ["a", "A", "b", "_", "%", "/", " ", "ß", "SS", "ss", "Ä", "ä", "İ", "i", "x", "\\", "é", "E\u0301", "'", "."]


def _paths(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        parts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6))).strip("/") or "d"]
        parts += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 5))).replace("/", "") or "e"]
        out.append("/" + "/".join(parts[: rng.randint(1, 2)]) + f"/f{rng.randint(0, 9)}.mp4")
    out += [HOLIDAY, "/home/me/Videos/holiday/x.mp4", os.fsdecode(b"/v/caf\xe9_bytes/x.mp4"), "/root.mp4"]
    return out


def _queries(rng: random.Random, paths: list[str], n: int) -> list[str]:
    out = [
        "holiday",
        "HOLIDAY 2023/",
        "_",
        "%",
        "/",
        "//",
        "a_",
        "%a",
        "ss",
        "SS",
        "ß",
        "/home/me",
        os.fsdecode(b"\xe9_b"),
    ]
    for _ in range(n):
        p = rng.choice(paths)
        i = rng.randrange(len(p))
        piece = p[i : i + rng.randint(1, 8)]
        piece = "".join(c.upper() if rng.random() < 0.5 else c for c in piece)
        out.append(piece if rng.random() < 0.8 else "/" + piece.lstrip("/"))
        out.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 3))))
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'folders.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    eng = create_engine(url)
    yield eng
    eng.dispose()


def test_sql_form_equals_the_rule(engine) -> None:
    rng = random.Random(0)
    paths = _paths(rng, 600)
    table = Table("videos", MetaData(), Column("id", Integer, primary_key=True), Column("folder_key", Text))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "folder_key": to_db(folder_key(p))} for i, p in enumerate(paths)])
    queries = _queries(rng, paths, 400)
    checked = matched = 0
    with engine.connect() as conn:
        for typed in queries:
            query = FolderQuery.parse(typed)
            if query is None:
                continue
            got = set(conn.scalars(select(table.c.id).where(folder_clause(table.c.folder_key, query))))
            want = {i for i, p in enumerate(paths) if query.matches(p)}
            assert got == want, (typed, sorted(got ^ want)[:5])
            checked += 1
            matched += bool(want)
    assert checked > 700 and matched > 400  # most queries find something: the comparison is not vacuous


@pytest.mark.parametrize("text", ["~", "~/x", "~root/x", "~no-such-user-tempme/x", "/a/~b", "x~"])
def test_expand_home_is_the_shells_rule(text) -> None:
    """Reference: os.path.expanduser (pathlib's raises RuntimeError for an unknown ~user)."""
    from tempme.index import expand_home

    assert expand_home(text) == Path(os.path.expanduser(text))
