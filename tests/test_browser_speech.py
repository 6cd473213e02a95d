"""Searching what is said, in the page, in headless Chromium (Debian's /usr/bin/chromium).

A real `tempme serve` over a real library: the espeak-ng speech clip and the drawn-text clip
(tests/synth_av.py) beside two real clips, indexed with the tiny random model and enriched with
pocketsphinx and RapidOCR. Type a spoken sentence: the moment's matched words are highlighted
(``<mark>``) under the thumbnails, the API returns the same words, and selecting the moment starts
the player at the first matched word. The page is saved to docs/screenshot-speech-search.png
(1280 px wide) when TEMPME_UPDATE_SCREENSHOT=1 or when it is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import VIDEOS
from serving import CHROMIUM, build_library, open_page, running_server

ROOT = Path(__file__).resolve().parents[1]
SHOT = "screenshot-speech-search.png"
OTHER_CLIPS = ["opencv-doc__cup.mp4", "mmaction2__demo.mp4"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"chromium not installed at {CHROMIUM} (run scripts/install_browser.sh)"
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, speech_clip, text_clip):
    from tempme.index import Library
    from tempme.index.enrich import SpeechConfig

    folder = tmp_path_factory.mktemp("clips")
    for src in (speech_clip[0], text_clip[0], *(VIDEOS / c for c in OTHER_CLIPS)):
        shutil.copy(src, folder / src.name)
    library = tmp_path_factory.mktemp("browser-speech") / "library"
    build_library(library, [folder], window_s=4.0)
    with Library.open(library) as lib:
        lib.enrich(("speech", "ocr"), speech=SpeechConfig(backend="pocketsphinx"))
    with running_server(library) as srv:
        yield srv


@pytest.fixture(scope="module")
def page(server):
    with open_page(server.url) as pg:
        yield pg


# each <mark> under the gallery with the box of the gallery, to check "under the thumbnails"
MARKS = """() => {
  const g = document.querySelector('#results').getBoundingClientRect();
  return [...document.querySelectorAll('#evidence mark')].map(m => {
    const r = m.getBoundingClientRect();
    return {text: m.innerText, top: r.top, galleryBottom: g.bottom, visible: r.width > 0 && r.height > 0,
            background: getComputedStyle(m).backgroundColor};
  });
}"""


def test_spoken_sentence_is_found_highlighted_and_played_from_its_first_word(page, server, speech_clip, tmp_path):
    from gradio_client import Client

    _, (beach, _) = speech_clip
    query = "going to the beach tomorrow morning"
    hits = Client(server.url, verbose=False, download_files=False).predict(query, 4, api_name="/search")
    top = hits[0]
    assert Path(top["video"]).name == "bikes_speech.mp4" and "speech" in top["matched"]
    api_words = [w["word"] for w in top["words"]]
    assert {"beach", "tomorrow", "morning"} <= set(api_words) and "the" not in api_words
    assert top["seek_s"] == top["words"][0]["start_s"] and abs(top["seek_s"] - beach.start_s) < 1.0

    box = page.locator("#query textarea, #query input").first
    box.fill(query)
    box.press("Enter")
    page.wait_for_function(f"() => document.querySelector('#message').innerText.includes('{query}')")
    page.wait_for_selector("#results img")
    page.wait_for_selector("#evidence mark")
    first = page.locator("#evidence li").first
    assert "bikes_speech.mp4" in first.inner_text()
    # the first moment's matched words, in <mark>, are the API's: highlighted, under the gallery
    assert [m.inner_text() for m in first.locator("mark").all()] == api_words
    marks = page.evaluate(MARKS)
    assert marks and all(m["visible"] and m["top"] >= m["galleryBottom"] - 1 for m in marks)
    assert all(m["background"] not in ("rgba(0, 0, 0, 0)", "transparent") for m in marks)
    assert "the" not in [m.inner_text() for m in first.locator("mark").all()]  # stop words stay plain

    # select it: the player starts at the first matched word (held still on every 'play')
    page.evaluate("() => document.addEventListener('play', e => e.target.pause(), true)")
    page.locator("#results button[data-index='0']").first.click()
    page.wait_for_function(
        "() => { const v = document.querySelector('#player video'); return v && v.readyState >= 1; }"
    )
    seek = top["seek_s"]
    try:
        page.wait_for_function(
            f"() => Math.abs(document.querySelector('#player video').currentTime - {seek}) < 0.3", timeout=20_000
        )
    except Exception:
        pass
    t = page.evaluate("() => document.querySelector('#player video').currentTime")
    assert abs(t - beach.start_s) < 1.0 and t == pytest.approx(seek, abs=0.3), (t, seek, beach)
    assert "<mark>" in page.inner_html("#span") and "beach" in page.inner_text("#span")

    page.wait_for_function("() => document.querySelector('#player video').readyState >= 2")
    page.wait_for_timeout(500)
    shot = tmp_path / SHOT
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    docs_shot = ROOT / "docs" / SHOT
    if os.environ.get("TEMPME_UPDATE_SCREENSHOT") == "1" or not docs_shot.exists():
        shutil.copyfile(shot, docs_shot)
