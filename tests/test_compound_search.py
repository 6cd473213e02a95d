"""Compound queries and exports on a real library: three clips built here say "the kettle is
boiling" (espeak-ng) and show a "SUMMER HOLIDAY" title card in three orders (conftest ORDERS),
indexed with the tiny random encoder and enriched with pocketsphinx and RapidOCR.

References: which clip has which order is known by construction; the scores are recomputed by
hand from the parts' own searches (RRF, k = 60); exported clips are re-opened with PyAV, the
.srt is compared with the catalog's word times, the timeline is read by OpenTimelineIO."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import opentimelineio as otio
import pytest
from parts import catalog_of
from tempme.app.cli import cli
from tempme.index import CompoundQuery, ExportOptions, Library
from typer.testing import CliRunner

SPEECH = dict(mode="speech")
THEN = CompoundQuery.of("kettle", then="summer holiday", mode="speech", then_mode="text")
WHILE = CompoundQuery.of("kettle", while_="summer holiday", mode="speech", then_mode="text")


@pytest.fixture(scope="module")
def library(order_library) -> Library:
    return order_library


def names(hits) -> list[str]:
    return [h.path.name for h in hits]


def rank_in(hits, name: str) -> int:
    return next(h.rank for h in hits if h.path.name == name)


def test_the_parts_alone_find_every_clip(library):
    """The premise: each part alone finds all three clips (the order is what tells them apart)."""
    assert sorted(names(library.search("kettle", 10, mode="speech"))) == sorted(
        ["kettle_then_sign.mp4", "sign_then_kettle.mp4", "kettle_with_sign.mp4"]
    )
    assert len(set(names(library.search("summer holiday", 10, mode="text")))) == 3


def test_then_finds_only_the_right_order_ranked_by_rrf(library):
    (hit,) = library.search(THEN, 10)
    assert hit.path.name == "kettle_then_sign.mp4" and hit.relation == "then"
    said, sign = hit.parts
    assert [w.word for w in said.words] == ["kettle"] and sign.ocr_text == "SUMMER HOLIDAY"
    assert 2.0 <= said.start_s < said.end_s <= sign.start_s <= 9.0  # the sign comes after the words
    assert (hit.start_s, hit.end_s) == (said.start_s, sign.end_s)
    speech = library.search("kettle", 50, mode="speech")
    text = library.search("summer holiday", 50, mode="text")
    r1, r2 = rank_in(speech, hit.path.name), rank_in(text, hit.path.name)
    assert hit.score == pytest.approx(1 / (60 + r1) + 1 / (60 + r2))
    assert "said “kettle”" in hit.why and ", then reads “SUMMER HOLIDAY”" in hit.why
    # the reverse question finds only the reverse order
    reverse = CompoundQuery.of("summer holiday", then="kettle", mode="text", then_mode="speech")
    assert names(library.search(reverse, 10)) == ["sign_then_kettle.mp4"]
    # too short a window: the sign comes about 3 s after the words
    assert (
        library.search(CompoundQuery.of("kettle", then="summer holiday", within_s=1.0, then_mode="text"), 10, **SPEECH)
        == []
    )


def test_while_finds_only_overlaps(library):
    (hit,) = library.search(WHILE, 10)
    assert hit.path.name == "kettle_with_sign.mp4" and hit.relation == "while"
    said, sign = hit.parts
    assert said.start_s < sign.end_s and sign.start_s < said.end_s


def test_compound_hits_survive_json(library):
    (hit,) = library.search(THEN, 10)
    back = type(hit).from_dict(json.loads(json.dumps(hit.to_dict())))
    assert back == hit


def run_cli(*args: str):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    return res.exit_code, res.stdout, res.stderr


def test_cli_then_and_while(library):
    code, out, err = run_cli(
        "--library", library.path, "search", "kettle", "--mode", "speech", "--then", "summer holiday",
        "--then-mode", "text", "--json", "--no-server",
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)["hits"]
    assert [Path(r["video"]).name for r in rows] == ["kettle_then_sign.mp4"]
    assert rows[0]["relation"] == "then" and len(rows[0]["parts"]) == 2
    code, out, err = run_cli("--library", library.path, "search", "kettle", "--mode", "speech", "--while",
                             "summer holiday", "--then-mode", "text", "--no-server")  # fmt: skip
    assert code == 0, err
    assert "kettle_with_sign.mp4" in out and "kettle_then_sign" not in out and ", while reads" in out
    code, _, err = run_cli("--library", library.path, "search", "kettle", "--then", "a", "--while", "b")
    assert code != 0 and "not both" in err and "Traceback" not in err


SRT_TIME = re.compile(r"(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})")


def _srt_cues(path: Path) -> list[tuple[float, float]]:
    out = []
    for m in SRT_TIME.finditer(path.read_text()):
        g = [int(x) for x in m.groups()]
        out.append((g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000, g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000))
    return out


def test_export_clip_srt_and_timeline_of_a_compound_hit(library, tmp_path):
    (hit,) = library.search(THEN, 10)
    report = library.export([hit], tmp_path, ExportOptions(timeline=tmp_path / "cut.otio", query=THEN.text))
    (clip,), (srt,) = report.clips, report.subtitles
    assert not report.errors and clip.path.parent == tmp_path and clip.path.suffix == ".mp4"
    assert clip.start_s <= hit.start_s and clip.end_s >= hit.end_s - 0.05  # the joined moment, padded
    with av.open(str(clip.path)) as c:
        assert c.streams.audio and float(c.duration / av.time_base) == pytest.approx(clip.duration_s, abs=0.1)
    # the subtitles are the catalog's words minus the clip's start
    words = [w for line in catalog_of(library).text_lines(hit.video_id, "speech") for w in line.words]
    inside = [(a, b) for _, a, b in words if b > clip.start_s and a < clip.end_s]
    (cue,) = _srt_cues(srt)
    assert cue[0] == pytest.approx(inside[0][0] - clip.start_s, abs=1e-3)
    assert cue[1] == pytest.approx(inside[-1][1] - clip.start_s, abs=1e-3)
    timeline = otio.adapters.read_from_file(str(report.timeline))
    (tl_clip,) = timeline.find_clips()
    assert tl_clip.source_range.start_time.rate == 25  # draw_text's frame rate
    assert tl_clip.source_range.start_time.value == round(hit.start_s * 25)
    assert tl_clip.source_range.end_time_exclusive().value == round(hit.end_s * 25)
    assert tl_clip.markers[0].name == THEN.text


def test_cli_export_by_segment_id_and_from_json(library, tmp_path):
    code, out, err = run_cli("--library", library.path, "search", "kettle", "--mode", "speech", "--json", "--no-server")
    assert code == 0, err
    rows = json.loads(out)["hits"]
    (tmp_path / "hits.json").write_text(out)
    code, out, err = run_cli("--library", library.path, "export", rows[0]["segment_id"], "--out", tmp_path / "a")
    assert code == 0, err
    assert re.match(r"clip: (copy|exact) [\d.]+–[\d.]+ s \(asked", out) and " + " in out  # the .srt too
    code, out, err = run_cli("--library", library.path, "export", "--hits", tmp_path / "hits.json", "--no-clips",
                             "--timeline", tmp_path / "cut.edl", "--order", "time")  # fmt: skip
    assert code == 0, err
    edl = otio.adapters.read_from_file(str(tmp_path / "cut.edl"), rate=25)
    assert len(list(edl.find_clips())) == len(rows) == 3
    code, _, err = run_cli("--library", library.path, "export", "999999", "--out", tmp_path / "b")
    assert code != 0 and "no segment 999999" in err and "Traceback" not in err


def test_page_then_row_download_and_timeline(library):
    """The page's handlers (no browser): the then / while row searches the compound query,
    "Download this moment" gives an MP4 of the joined moment, the ticked moments a timeline."""
    import gradio as gr
    from tempme.app.context import AppContext
    from tempme.app.exports import compound_query
    from tempme.app.validate import InputError
    from tempme.app.web.events import Events
    from tempme.app.web.page import layout
    from tempme.app.web.state import SearchState

    ctx = AppContext(library.path)
    with gr.Blocks():
        page = layout(ctx)
    ev, r, pl = Events(ctx, page), page.results, page.player
    out = ev.run_search(
        "kettle",
        12,
        "",
        None,
        None,
        [],
        "",
        "",
        SearchState(),
        "speech",
        then="summer holiday",
        relation="then",
        within=10,
        then_mode="text",
    )
    state = out[page.state]
    assert names(state.moments) == ["kettle_then_sign.mp4"] and state.compound.parts[1] == THEN.parts[1]
    assert out[r.ticked]["choices"] == [(f"1. kettle_then_sign.mp4 {state.moments[0].span}", 0)]
    more = ev.load_more(state)  # the next page of the same compound query: nothing more
    assert more[page.state].moments == state.moments
    clip = ev.on_download(state, state.moments[0].segment_id)[pl.download_file]
    assert clip["visible"] and Path(clip["value"]).suffix == ".mp4"
    with av.open(clip["value"]) as c:
        assert c.streams.video and c.streams.audio
    assert "Select a result first" in ev.on_download(state, None)[pl.explain_note]
    tl = ev.on_timeline(state, [0], ".edl")[r.timeline_file]
    assert tl["visible"] and len(list(otio.adapters.read_from_file(tl["value"], rate=25).find_clips())) == 1
    assert "Tick the moments" in ev.on_timeline(state, [], ".otio")[r.message]
    while_out = ev.run_search("kettle", 12, "", None, None, [], "", "", SearchState(), "speech", then="summer holiday",
                              relation="while", within=None, then_mode="text")  # fmt: skip
    assert names(while_out[page.state].moments) == ["kettle_with_sign.mp4"]
    assert compound_query("kettle", "  ") is None
    with pytest.raises(InputError, match="“Within” must be 0 to 3600 seconds"):
        compound_query("kettle", "sign", "then", -1)
