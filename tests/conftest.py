"""Shared fixtures: paths to the real clips and annotation files, tiny encoders."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO.parent / "shared" / "data").resolve()  # ../shared may be a symbolic link
VIDEOS = SHARED / "videos"
MSRVTT = SHARED / "msrvtt"

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


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
