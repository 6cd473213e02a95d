"""`tempme reindex`: the re-encoded library equals a library indexed from scratch with the new
encoder; a run that dies before the switch leaves the old index searchable and resumes.

Reference: a fresh library built by `Library.add` with the new encoder (random tiny weights in
a local checkpoint file) on the same clips.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from conftest import VIDEOS
from parts import catalog_of
from tempme.app.cli import cli
from tempme.index import Library
from tempme.index.ingest import STAGING_NAME
from tempme.index.media import SegmentParams
from tempme.index.query import QueryEncoder
from tempme.index.vectors import AUTO_KINDS
from typer.testing import CliRunner

import tempme.weights  # noqa: F401  (registers the tempme-tiny config with open_clip)

CLIPS = ["opencv-doc__cup.mp4", "opencv-doc__box.mp4", "moviepy__fire2.mp4"]
PARAMS = SegmentParams(window_s=4.0, min_shot_s=1.0)
QUERY = "a cup on a table"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """Other random tiny CLIP weights, as a local file: the new encoder."""
    torch.manual_seed(7)
    model = open_clip.create_model("tempme-tiny", pretrained=None)
    path = tmp_path_factory.mktemp("ckpt") / "tiny-7.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    if not VIDEOS.is_dir():
        pytest.skip(f"real clips not found at {VIDEOS}")
    folder = tmp_path_factory.mktemp("clips")
    for c in CLIPS:
        shutil.copy(VIDEOS / c, folder / c)
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def reference(tmp_path_factory, clips, checkpoint):
    """A library built from scratch with the new encoder: what reindex must produce."""
    lib = Library.open(tmp_path_factory.mktemp("ref") / "lib", create=True)
    lib.add(clips, model="tempme-tiny", pretrained=str(checkpoint), segment_params=PARAMS)
    return lib


def old_library(path: Path, clips: list[Path]) -> Library:
    lib = Library.open(path, create=True)
    lib.add(clips, model="tempme-tiny", pretrained="none", segment_params=PARAMS)
    return lib


def per_video(lib: Library) -> dict[str, list[tuple[float, float, bytes]]]:
    """path -> the video's segments (start, end, vector) in time order, read from the catalog."""
    ids, vecs = catalog_of(lib).stored_vectors()
    rows = catalog_of(lib).segment_rows(list(ids))
    out: dict[str, list] = {}
    for sid, vec in zip(ids, vecs):
        r = rows[int(sid)]
        out.setdefault(str(r.path), []).append((r.start_s, r.end_s, vec))
    return {p: sorted(v, key=lambda t: t[0]) for p, v in out.items()}


def assert_same_library(got: Library, want: Library) -> None:
    a, b = per_video(got), per_video(want)
    assert a.keys() == b.keys()
    for path in a:
        assert [(s, e) for s, e, _ in a[path]] == [(s, e) for s, e, _ in b[path]]
        np.testing.assert_allclose(np.stack([v for *_, v in a[path]]), np.stack([v for *_, v in b[path]]), atol=1e-6)
    assert got.encoder_info() == want.encoder_info()
    assert got.stats().vectors == want.stats().vectors
    hits = [(h.path, h.start_s, round(h.score, 5)) for h in got.search(QUERY, 5)]
    assert hits == [(h.path, h.start_s, round(h.score, 5)) for h in want.search(QUERY, 5)]


def test_reindex_equals_indexing_from_scratch_and_a_new_process_sees_it(tmp_path, clips, checkpoint, reference):
    lib = old_library(tmp_path / "lib", clips)
    before = [h.to_dict() for h in lib.search(QUERY, 5)]
    report = lib.reindex(pretrained=str(checkpoint), segment_params=PARAMS)
    assert (report.videos, report.failed, report.resumed, report.interrupted) == (3, 0, 0, False)
    assert_same_library(lib, reference)
    assert [h.to_dict() for h in lib.search(QUERY, 5)] != before
    assert not (tmp_path / "lib" / STAGING_NAME).exists()
    with Library.open(tmp_path / "lib") as again:  # another process: the record and the FAISS file
        st = again.stats()
        assert st.index_type == reference.stats().index_type
        assert (st.index_version, st.vectors) == (
            catalog_of(again).index_state().version,
            catalog_of(again).segment_count(),
        )
        assert_same_library(again, reference)
    # `tempme index` without flags now reuses the new encoder (nothing to do: all unchanged)
    res = CliRunner().invoke(cli, ["--library", str(tmp_path / "lib"), "index", str(clips[0].parent)])
    assert res.exit_code == 0 and "3 unchanged" in res.output


class Crash(Exception):
    pass


def test_a_crash_before_the_switch_keeps_the_old_index_and_the_rerun_resumes(tmp_path, clips, checkpoint, reference):
    lib = old_library(tmp_path / "lib", clips)
    old_info = lib.encoder_info()
    before = [h.to_dict() for h in lib.search(QUERY, 5)]

    def die_after_two(done: int, total: int, path: str) -> None:
        if done == 2:
            raise Crash  # as if the process died here: two videos staged, the third not

    with pytest.raises(Crash):
        lib.reindex(pretrained=str(checkpoint), segment_params=PARAMS, progress=die_after_two)
    staged = list((tmp_path / "lib" / STAGING_NAME).glob("video-*.npz"))
    assert len(staged) == 2
    # the library is as it was: old encoder, old vectors, the same answers (here and in a new process)
    with Library.open(tmp_path / "lib") as other:
        assert other.encoder_info() == old_info
        assert [h.to_dict() for h in other.search(QUERY, 5)] == before
    assert [h.to_dict() for h in lib.search(QUERY, 5)] == before

    # the same reindex again: the two staged videos are reused, the third is encoded
    report = Library.open(tmp_path / "lib").reindex(pretrained=str(checkpoint), segment_params=PARAMS)
    assert (report.videos, report.resumed, report.interrupted) == (3, 2, False)
    with Library.open(tmp_path / "lib") as done:
        assert_same_library(done, reference)


def test_a_staging_folder_for_another_encoder_is_discarded(tmp_path, clips, checkpoint, reference):
    lib = old_library(tmp_path / "lib", clips)

    def die_at_once(done: int, total: int, path: str) -> None:
        if done == 1:
            raise Crash

    with pytest.raises(Crash):
        lib.reindex(segment_params=PARAMS, progress=die_at_once)  # the recorded encoder again
    assert len(list((tmp_path / "lib" / STAGING_NAME).glob("video-*.npz"))) == 1
    report = lib.reindex(pretrained=str(checkpoint), segment_params=PARAMS)
    assert (report.videos, report.resumed) == (3, 0)  # nothing reused from the other encoder's run
    assert_same_library(lib, reference)


def test_cli_reindex_asks_first(tmp_path, clips, checkpoint, reference):
    old_library(tmp_path / "lib", clips).close()
    runner = CliRunner()
    args = ["--library", str(tmp_path / "lib"), "reindex", "--pretrained", str(checkpoint), "--window", "4"]
    res = runner.invoke(cli, args)  # no terminal, no --yes: refused, nothing changed
    assert res.exit_code == 1 and "pass --yes" in res.output
    with Library.open(tmp_path / "lib") as lib:
        assert lib.encoder_info()["pretrained"] == "none"
    res = runner.invoke(cli, [*args, "--yes"])
    assert res.exit_code == 0 and "re-encoded 3 videos" in res.output, res.output
    with Library.open(tmp_path / "lib") as lib:
        assert_same_library(lib, reference)
    res = runner.invoke(cli, ["--library", str(tmp_path / "empty"), "reindex", "--yes"])
    assert res.exit_code == 1 and "no library at" in res.output


def test_sigkill_mid_run_leaves_the_old_index_and_the_rerun_resumes(tmp_path, checkpoint):
    """A real crash: `tempme reindex` in a child process, SIGKILLed once it has staged a video."""
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(8):  # enough work that the kill lands mid-run
        shutil.copy(VIDEOS / CLIPS[i % len(CLIPS)], folder / f"{i}-{CLIPS[i % len(CLIPS)]}")
    lib = old_library(tmp_path / "lib", sorted(folder.iterdir()))
    old_info, before = lib.encoder_info(), [h.to_dict() for h in lib.search(QUERY, 5)]
    lib.close()
    staging = tmp_path / "lib" / STAGING_NAME
    cmd = [sys.executable, "-m", "tempme", "--library", str(tmp_path / "lib"), "reindex", "--yes"]
    proc = subprocess.Popen([*cmd, "--pretrained", str(checkpoint), "--window", "4"], stderr=subprocess.DEVNULL)
    while proc.poll() is None and not list(staging.glob("video-*.npz")):
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.skip("the reindex finished before it could be killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    staged = list(staging.glob("video-*.npz"))
    assert 1 <= len(staged) < 8
    for f in staged:  # written atomically: every staged file is whole
        np.load(f)["embeddings"]
    with Library.open(tmp_path / "lib") as other:
        assert other.encoder_info() == old_info
        assert [h.to_dict() for h in other.search(QUERY, 5)] == before
        report = other.reindex(pretrained=str(checkpoint), segment_params=PARAMS)
    assert report.resumed >= len(staged) and report.videos == 8 and not report.interrupted
    ref = Library.open(tmp_path / "ref", create=True)
    ref.add(sorted(folder.iterdir()), model="tempme-tiny", pretrained=str(checkpoint), segment_params=PARAMS)
    with Library.open(tmp_path / "lib") as done:
        assert_same_library(done, ref)


def test_a_pinned_fast_scan_type_and_its_tuning_survive_reindex(tmp_path, clips, checkpoint):
    """A reindex rebuilds the pinned type from the new vectors and tunes it for the same request."""
    fine = SegmentParams(window_s=1.2, min_shot_s=0.5)  # >= 16 vectors: a 4-bit PQ trains 16 centroids
    lib = Library.open(tmp_path / "lib", create=True)
    lib.add(clips, model="tempme-tiny", pretrained="none", segment_params=fine)
    assert lib.stats().vectors >= 16
    lib.rebuild("IVF4,PQ8x4fsr", target_recall=0.8)
    before = lib.stats().search_tuning
    lib.reindex(pretrained=str(checkpoint), segment_params=fine)
    st = Library.open(tmp_path / "lib").stats()
    assert st.index_type == "IVF4,PQ8x4fsr" and st.index_version > 0
    assert st.search_tuning is not None and st.search_tuning["target_recall"] == before["target_recall"] == 0.8


def test_a_pinned_index_type_survives_reindex(tmp_path, clips, checkpoint, reference):
    lib = old_library(tmp_path / "lib", clips)
    lib.rebuild("IVF4,Flat")
    assert lib.stats().index_type == "IVF4,Flat" and lib.stats().index_type not in AUTO_KINDS  # pinned
    lib.reindex(pretrained=str(checkpoint), segment_params=PARAMS)
    assert lib.stats().index_type == "IVF4,Flat"  # still pinned: not back to the type chosen by size
    assert reference.stats().index_type != "IVF4,Flat"
    ids, vecs = catalog_of(lib).stored_vectors()
    assert lib.stats().vectors == len(ids) == reference.stats().vectors
    q = np.asarray(QueryEncoder(lib.encoder).encode(QUERY), dtype=np.float32).reshape(1, -1)
    _, got = lib.search_segments(q, 5)  # IVF4 probes all 4 lists: the same top-5 as exact search
    assert list(got[0]) == list(ids[np.argsort(-(vecs @ q[0]))[:5]])
