"""The one settings object (tempme.index.settings): defaults, ``TEMPME_*`` overrides, bad values."""

from __future__ import annotations

import pytest
from tempme.index import IndexParams, SearchTuning, Settings, get_settings


def test_defaults_and_environment_overrides() -> None:
    assert Settings() == Settings.from_env({})
    s = Settings.from_env({"TEMPME_NPROBE": "64", "TEMPME_FILE_TIMEOUT_S": "2.5", "TEMPME_LIBRARY": "elsewhere"})
    assert (s.nprobe, s.file_timeout_s, s.torch_threads) == (64, 2.5, Settings().torch_threads)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"TEMPME_NPROBE": "many"}, "TEMPME_NPROBE='many': expected a whole number"),
        ({"TEMPME_FILE_TIMEOUT_S": "soon"}, "TEMPME_FILE_TIMEOUT_S='soon': expected a number"),
        ({"TEMPME_QUERY_BATCH": "0"}, r"TEMPME_QUERY_BATCH \(query_batch\) must be > 0"),
    ],
)
def test_bad_values_say_which_variable(env, message) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_the_process_settings_feed_the_defaults(monkeypatch) -> None:
    monkeypatch.setenv("TEMPME_NPROBE", "7")
    get_settings.cache_clear()
    try:
        assert get_settings().nprobe == 7 and IndexParams().search_nprobe(None) == 7
        tuned = SearchTuning(nprobe=12, rerank=5, recall=0.96, p50_ms=1.0, queries=100, target_recall=0.95)
        assert IndexParams().search_nprobe(tuned) == 12  # what the library measured beats the setting
        assert IndexParams(nprobe=3).search_nprobe(tuned) == 3  # and an explicit value beats both
        assert IndexParams().search_rerank(tuned) == 5 and IndexParams(rerank=0).search_rerank(tuned) == 0
    finally:
        monkeypatch.delenv("TEMPME_NPROBE")
        get_settings.cache_clear()
    assert IndexParams().search_nprobe(None) == Settings().nprobe
