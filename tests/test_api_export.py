"""The API's side of issues 26 and 29, through FastAPI's TestClient on the app `tempme serve`
builds, over the real library of conftest's ``order_library`` (three clips saying "the kettle is
boiling" and showing "SUMMER HOLIDAY" in three orders; pocketsphinx, RapidOCR, tiny encoder).

References: `Library.search` in this process (the same hits, compound or not); the clips the
API sends re-opened with PyAV (their length, audio, the source's keyframes by a full demux);
the timelines read back by OpenTimelineIO; the catalog's segment spans at the clips' 25 fps.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile

import av
import opentimelineio as otio
import pytest
from tempme.index import CompoundQuery

PROBLEM = "application/problem+json"
FPS = 25.0  # synth_av.draw_text's frame rate
THEN = CompoundQuery.of("kettle", then="summer holiday", mode="speech", then_mode="text")
WHILE = CompoundQuery.of("kettle", while_="summer holiday", mode="speech", then_mode="text")


def part(relation: str) -> dict:
    return {"query": "summer holiday", "mode": "text", "relation": relation, "within_s": 10}


@pytest.fixture(scope="module")
def client(order_library, tmp_path_factory):
    from fastapi.testclient import TestClient
    from tempme.app.api.server import ServeOptions, build

    app, _ = build(ServeOptions(library=order_library.path), tmp_path_factory.mktemp("media"), page=False)
    with TestClient(app, base_url="http://127.0.0.1/api/v1/") as c:
        yield c


def problem_of(r, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM and "Traceback" not in r.text
    detail = r.json()["detail"]
    assert "\n" not in detail
    return detail


def same_hits(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert {k: v for k, v in g.items() if k not in ("score", "parts")} == {
            k: v for k, v in w.items() if k not in ("score", "parts")
        }
        assert g["score"] == pytest.approx(w["score"], abs=1e-6)
        same_hits(g["parts"], w["parts"])


def test_compound_search_is_the_librarys(client, order_library) -> None:
    for relation, query in (("then", THEN), ("while", WHILE)):
        r = client.post("search", json={"query": "kettle", "mode": "speech", "k": 10, "parts": [part(relation)]})
        assert r.status_code == 200, r.text
        body = r.json()
        want = [h.to_dict() for h in order_library.search(query, 10)]
        assert want and body["query"] == query.text
        same_hits(body["hits"], want)
        (hit,) = body["hits"]  # one clip per order: only the right one
        assert hit["relation"] == relation and len(hit["parts"]) == 2
        assert hit["video"].endswith("kettle_then_sign.mp4" if relation == "then" else "kettle_with_sign.mp4")


def test_speech_hits_say_how_they_matched(client, order_library) -> None:
    r = client.get("search", params={"query": "kettle", "mode": "speech", "k": 5})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    same_hits(hits, [h.to_dict() for h in order_library.search("kettle", 5, mode="speech")])
    assert len(hits) == 3 and {h["match_kind"] for h in hits} == {"exact"}  # the word as recognised
    assert all(h["match_score"] == 1.0 and h["heard_as"] is None for h in hits)
    visual = client.get("search", params={"query": "kettle", "mode": "visual", "k": 1}).json()["hits"][0]
    assert visual["match_kind"] is None and visual["match_score"] is None


def test_compound_mistakes_are_problems(client) -> None:
    bad = {"relation": "before"}, {"within_s": -1}, {"mode": "smell"}, {"query": "  "}
    for change in bad:
        r = client.post("search", json={"query": "kettle", "parts": [{**part("then"), **change}]})
        problem_of(r, 422)
    r = client.post("search", json={"query": "kettle", "parts": [part("then")] * 4})
    assert "parts" in problem_of(r, 422)


def keyframes(path) -> list[float]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return [float(p.pts * v.time_base) for p in c.demux(v) if p.pts is not None and p.is_keyframe]


def fetch_clip(client, segment_id: int, tmp_path, **params):
    r = client.get(f"moments/{segment_id}/clip", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    name = re.fullmatch(r'attachment; filename="(.+)"', r.headers["content-disposition"]).group(1)
    out = tmp_path / name
    out.write_bytes(r.content)
    with av.open(str(out)) as c:
        duration = float(c.duration / av.time_base)
        audio = bool(c.streams.audio) and sum(f.samples for f in c.decode(c.streams.audio[0])) > 0
    heads = {k: float(r.headers[f"x-clip-{k}-s"]) for k in ("start", "end", "asked-start", "asked-end")}
    return name, r.headers["x-clip-mode"], heads, duration, audio


def test_clip_has_the_promised_span_and_leaves_nothing_behind(client, order_library, tmp_path) -> None:
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "tempme-api-export-*")))
    hit = order_library.shelf.segment(order_library.search("kettle", 1, mode="speech")[0].segment_id)  # its span
    stem = hit.path.stem
    name, mode, t, duration, audio = fetch_clip(client, hit.segment_id, tmp_path, pad=0.5, mode="exact")
    assert re.fullmatch(rf"{stem}_\d\d-\d\d-\d\d-\d\d\.mp4", name) and mode == "exact" and audio
    # padding: at most 0.5 s each side, clamped to the file (or stopped at a scene cut)
    assert max(0.0, hit.start_s - 0.5) - 1e-6 <= t["asked-start"] <= hit.start_s + 1e-6
    assert hit.end_s - 1e-6 <= t["asked-end"] <= min(hit.duration_s, hit.end_s + 0.5) + 1e-6
    assert abs(t["start"] - t["asked-start"]) <= 1 / FPS and abs(t["end"] - t["asked-end"]) <= 1 / FPS
    assert duration == pytest.approx(t["end"] - t["start"], abs=1.5 / FPS)
    name, mode, t, duration, _ = fetch_clip(client, hit.segment_id, tmp_path, pad=0.5, mode="copy")
    assert mode == "copy" and name.endswith(".mp4")
    starts = [k for k in keyframes(hit.path) if k <= t["asked-start"] + 1e-6]  # copy: the keyframe before
    assert t["start"] == pytest.approx(max(starts), abs=1e-3)
    assert duration == pytest.approx(t["end"] - t["start"], abs=0.1)
    # a compound hit's joined span, exported as one moment
    (joined,) = order_library.search(THEN, 1)
    params = dict(pad=0, mode="exact", start_s=joined.start_s, end_s=joined.end_s)
    _, _, t, duration, _ = fetch_clip(client, joined.segment_id, tmp_path, **params)
    assert t["start"] == pytest.approx(joined.start_s, abs=1 / FPS) and t["end"] >= joined.end_s - 1 / FPS
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "tempme-api-export-*"))) == before


def test_clip_mistakes_are_problems(client, order_library) -> None:
    hit = order_library.search("kettle", 1, mode="speech")[0]
    assert "not in the library" in problem_of(client.get("moments/999999/clip"), 404)
    problem_of(client.get(f"moments/{hit.segment_id}/clip", params={"pad": -1}), 422)
    problem_of(client.get(f"moments/{hit.segment_id}/clip", params={"mode": "fast"}), 422)
    far = {"start_s": hit.duration_s + 5, "end_s": hit.duration_s + 6}
    assert "outside the video" in problem_of(client.get(f"moments/{hit.segment_id}/clip", params=far), 422)


def test_timeline_of_segment_ids(client, order_library) -> None:
    hits = order_library.search("kettle", 3, mode="speech")  # the hits' own spans (the words)
    ids = [h.segment_id for h in hits]
    spans = [{"segment_id": h.segment_id, "start_s": h.start_s, "end_s": h.end_s} for h in hits]
    r = client.post("timeline", json={"segment_ids": spans, "format": "otio", "query": "kettle"})
    assert r.status_code == 200, r.text
    timeline = otio.adapters.read_from_string(r.text, adapter_name="otio_json")
    clips = list(timeline.find_clips())
    assert [c.source_range.start_time.value for c in clips] == [round(h.start_s * FPS) for h in hits]
    assert [c.source_range.end_time_exclusive().value for c in clips] == [round(h.end_s * FPS) for h in hits]
    r = client.post("timeline", json={"segment_ids": ids, "format": "edl", "order": "time"})
    assert r.status_code == 200 and 'filename="tempme-moments.edl"' in r.headers["content-disposition"]
    edl = list(otio.adapters.read_from_string(r.text, adapter_name="cmx_3600", rate=FPS).find_clips())
    segments = sorted((str(s.path), s.start_s) for s in map(order_library.shelf.segment, ids))  # order=time
    assert [c.source_range.start_time.value for c in edl] == [round(t * FPS) for _, t in segments]
    problem_of(client.post("timeline", json={"segment_ids": [ids[0], 999999]}), 404)
    problem_of(client.post("timeline", json={"segment_ids": []}), 422)
