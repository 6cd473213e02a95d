"""Prometheus metrics (prometheus-client), as text at ``GET /api/v1/metrics``.

Counted per request (by the route's template, so ids do not multiply the series; the page's own
requests count as route ``page``): ``tempme_http_requests_total{method,route,status}`` and
``tempme_http_request_duration_seconds{method,route}``. Per search:
``tempme_searches_total{mode}`` and ``tempme_search_stage_seconds{stage}`` (encode: the text
tower; vector: FAISS; catalog: SQL). Read from the library at each scrape: videos, segments,
vectors, jobs by status, whether the model is loaded.

With replicas (``tempme serve --workers N``) every process writes its counters to the folder in
``PROMETHEUS_MULTIPROC_DIR`` (set by the server before any worker imports prometheus-client) and
a scrape of any worker adds them up (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from tempme.app.context import AppContext
from tempme.app.validate import InputError
from tempme.index import JOB_STATES

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REQUESTS = Counter("tempme_http_requests", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "tempme_http_request_duration_seconds", "Time to answer, in seconds.", ["method", "route"], buckets=LATENCY_BUCKETS
)
SEARCHES = Counter("tempme_searches", "Searches answered.", ["mode"])
STAGES = Histogram(
    "tempme_search_stage_seconds", "Search time by stage, in seconds.", ["stage"], buckets=LATENCY_BUCKETS
)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def observe_search(mode: str, timings: dict[str, float]) -> None:
    SEARCHES.labels(mode).inc()
    for stage, seconds in timings.items():
        STAGES.labels(stage).observe(seconds)


class LibraryCollector:
    """Gauges read from the library at each scrape (no state of their own)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self):
        try:
            lib = self.ctx.library()
        except InputError:
            return
        stats = lib.stats()
        for name, value, what in (
            ("tempme_library_videos", stats.videos, "Indexed videos."),
            ("tempme_library_segments", stats.segments, "Indexed segments (moments)."),
            ("tempme_index_vectors", stats.vectors, "Vectors in the loaded index."),
            ("tempme_model_loaded", int(self.ctx.model_loaded()), "1 once this process loaded the encoder."),
        ):
            yield GaugeMetricFamily(name, what, value=value)
        jobs = GaugeMetricFamily("tempme_jobs", "Jobs in the catalog, by status.", labels=["status"])
        counts = lib.jobs.counts()
        for status in JOB_STATES:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs


def exposition(ctx: AppContext) -> bytes:
    """The text a scrape gets: this process's counters (or every replica's) and the library's gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    out = generate_latest(registry)
    library = CollectorRegistry()
    library.register(LibraryCollector(ctx))
    return out + generate_latest(library)


class Timer:
    """``with Timer() as t: ...``; ``t.seconds`` afterwards."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
