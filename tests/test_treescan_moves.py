"""The stat-only walk (index/media/treescan.py) against index.files.walk, the walk the planner uses
today (the reference for which names are listed), and hash-matched moves (index/ingest/moves.py) on
real files with hand-built expectations."""

from __future__ import annotations

import os
import shutil

import pytest
from tempme.index.ingest.moves import LostVideo, NewFile, Relink, match_moves
from tempme.index.media.files import content_hash, walk
from tempme.index.media.treescan import scan_tree


def build(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "b").mkdir()
    for p in ["x.mp4", "a/y.MKV", "a/deep/z.webm", ".hidden/h.mp4", "a/.dot.mp4", "a/notes.txt", "b/w.avi"]:
        (root / p).write_bytes(p.encode())
    os.symlink(root / "a" / "y.MKV", root / "b" / "link_to_y.mkv")  # a second name for a/y.MKV
    os.symlink(root / "b" / "missing.mp4", root / "b" / "dangling.mp4")
    os.symlink(root / "b" / "loop2.mp4", root / "b" / "loop1.mp4")
    os.symlink(root / "b" / "loop1.mp4", root / "b" / "loop2.mp4")
    os.symlink(root / "a", root / "b" / "linked_dir")  # not descended (as os.walk)
    (tmp_path / "outside.mp4").write_bytes(b"o")
    os.symlink(tmp_path / "outside.mp4", root / "b" / "only_link.mp4")  # a link whose target is not walked
    return root


def test_scan_tree_lists_what_walk_lists_with_stats(tmp_path):
    root = build(tmp_path)
    want = walk([root, tmp_path / "outside.mp4"])
    got = scan_tree([root, tmp_path / "outside.mp4"])
    assert [f.path for f in got] == want
    for f in got:
        try:
            st = os.stat(f.path)
        except OSError:
            assert f.stat is None  # dangling, loops
            continue
        assert f.stamp == (st.st_size, st.st_mtime_ns)
    names = {f.path.name for f in got}
    assert "h.mp4" not in names and ".dot.mp4" not in names and "notes.txt" not in names
    assert "link_to_y.mkv" not in names  # the file's own name wins over a link to it


def test_scan_tree_records_unreadable_folders(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    root = build(tmp_path)
    (root / "a").chmod(0)
    try:
        errors_walk, errors_scan = [], []
        assert [f.path for f in scan_tree([root], errors_scan)] == walk([root], errors_walk)
        assert [d for d, _ in errors_scan] == [d for d, _ in errors_walk] == [root / "a"]
    finally:
        (root / "a").chmod(0o755)


def test_scan_tree_raises_for_a_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan_tree([tmp_path / "nope"])


def test_match_moves_by_size_and_hash(videos_dir, tmp_path):
    clips = sorted(videos_dir.glob("*.mp4"))[:3]
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    moved = new_dir / clips[0].name  # the same bytes under a new folder, a new mtime (cp without -p)
    shutil.copyfile(clips[0], moved)
    renamed = new_dir / "renamed.mp4"  # same bytes, new name
    shutil.copyfile(clips[1], renamed)
    other = new_dir / "other.mp4"  # same size as clips[2], other bytes: not a move
    data = bytearray(clips[2].read_bytes())
    data[-1] ^= 0xFF
    other.write_bytes(bytes(data))
    lost = [
        LostVideo(7, tmp_path / "old" / clips[0].name, clips[0].stat().st_size, 1, content_hash(clips[0])),
        LostVideo(8, tmp_path / "old" / clips[1].name, clips[1].stat().st_size, 2, content_hash(clips[1])),
        LostVideo(9, tmp_path / "old" / clips[2].name, clips[2].stat().st_size, 3, content_hash(clips[2])),
        LostVideo(10, tmp_path / "old" / "nohash.mp4", clips[0].stat().st_size, 4, None),
    ]
    new = [NewFile(p, p.stat().st_size, p.stat().st_mtime_ns) for p in (moved, renamed, other)]
    hashed = []

    def spy(p):
        hashed.append(p)
        return content_hash(p)

    assert match_moves(new, lost, spy) == [
        Relink(7, lost[0].path, moved),
        Relink(8, lost[1].path, renamed),
    ]
    assert sorted(hashed) == sorted([moved, renamed, other])  # only size-equal files are read


def test_match_moves_takes_each_lost_video_once_preferring_the_same_name(tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    digest = content_hash(a)
    lost = [
        LostVideo(1, tmp_path / "old" / "x.mp4", 10, 0, digest),
        LostVideo(2, tmp_path / "old" / "b.mp4", 10, 0, digest),
    ]
    new = [NewFile(a, 10, 5), NewFile(b, 10, 5)]
    # a.mp4 comes first and no lost video has its name: the lowest id; b.mp4 then gets the other
    assert match_moves(new, lost) == [Relink(1, lost[0].path, a), Relink(2, lost[1].path, b)]
    assert match_moves(new[::-1], lost) == [Relink(2, lost[1].path, b), Relink(1, lost[0].path, a)]
    assert match_moves([NewFile(tmp_path / "vanished.mp4", 10, 5)], lost) == []  # unreadable: no match
