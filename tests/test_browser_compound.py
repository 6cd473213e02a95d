"""The page in headless chromium with a compound query: the "then / while" row finds the one clip
where the kettle is mentioned before the sign appears, the moment is ticked and exported as a
timeline, and "Download this moment" offers its MP4. The page is saved to
docs/screenshot-compound.png (1280 px wide) when TEMPME_UPDATE_SCREENSHOT=1 or when it is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import opentimelineio as otio
import pytest
from serving import CHROMIUM, CHROMIUM_ARGS, running_server

ROOT = Path(__file__).resolve().parents[1]
SHOT = "screenshot-compound.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"chromium not installed at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, order_clips):
    from tempme.index import Library
    from tempme.index.enrich import SpeechConfig
    from tempme.index.media import SegmentParams

    folder = next(iter(order_clips.values())).parent
    library = tmp_path_factory.mktemp("browser-compound") / "library"
    with Library.open(library, create=True) as lib:
        lib.add([folder], model="tempme-tiny", pretrained="none", segment_params=SegmentParams(window_s=4.0))
        lib.enrich(("speech", "ocr"), speech=SpeechConfig(backend="pocketsphinx"))
    with running_server(library) as srv:
        yield srv


def test_then_row_timeline_and_download(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.set_default_timeout(120_000)
        page.goto(server.url)
        page.locator("#query textarea, #query input").first.fill("kettle")
        page.locator("#options").get_by_text("Mode and filters").click()  # mode and "then" are collapsed
        page.locator("#mode label", has_text="speech").click()
        page.locator("#compound").get_by_text("Then / while").click()
        page.locator("#then textarea, #then input").first.fill("summer holiday")
        page.locator("#then-mode input").first.click()
        page.get_by_role("option", name="text", exact=True).click()
        page.locator("#query textarea, #query input").first.press("Enter")
        page.wait_for_selector("#results img")
        page.wait_for_function("() => document.querySelector('#results').innerText.includes('then reads')")
        cards = page.inner_text("#results")
        assert "kettle_then_sign.mp4" in cards and "sign_then_kettle" not in cards and "kettle_with_sign" not in cards
        assert "“kettle” then (within 10 s) “summer holiday” [text]" in page.inner_text("#message")

        page.locator("#timeline").get_by_text("Timeline for editors").click()
        page.locator("#ticked label").first.click()
        page.locator("#export-timeline").click()
        link = page.locator("#timeline-file a").first
        link.wait_for()
        with page.expect_download() as dl:
            link.click()
        saved = tmp_path / "moments.otio"
        dl.value.save_as(saved)
        (clip,) = otio.adapters.read_from_file(str(saved)).find_clips()
        assert clip.name.startswith("kettle_then_sign")

        page.locator("#results button[data-index='0']").first.click()
        page.wait_for_function("() => { const v = document.querySelector('#player video'); return v; }")
        page.locator("#download-moment").click()
        page.locator("#moment-file a").first.wait_for()
        assert ".mp4" in page.inner_text("#moment-file")
        page.wait_for_timeout(500)
        shot = tmp_path / SHOT
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    docs_shot = ROOT / "docs" / SHOT
    if os.environ.get("TEMPME_UPDATE_SCREENSHOT") == "1" or not docs_shot.exists():
        shutil.copyfile(shot, docs_shot)
