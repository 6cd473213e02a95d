"""Exported clips play in headless Debian chromium: metadata loads with the promised duration,
playback advances, and chromium decodes both the video and the audio it was given."""

from pathlib import Path

import pytest
from serving import CHROMIUM, CHROMIUM_ARGS
from tempme.index.media.clips import export_clip

VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos"
FILM = VIDEOS / "long" / "moviepy-sdist__bbb.mp4"
PANCAKE = VIDEOS / "decord__flipping_a_pancake.mkv"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"chromium not installed at {CHROMIUM}"),
    pytest.mark.skipif(not FILM.is_file(), reason="needs ../shared/data/videos"),
]

PLAY = """async (src) => {
  const v = document.createElement('video');
  document.body.appendChild(v);
  v.src = src;
  await new Promise((ok, bad) => { v.onloadedmetadata = ok; v.onerror = () => bad(new Error('media error ' + v.error.code)); });
  const duration = v.duration;
  await v.play();
  await new Promise(ok => { const t = () => v.currentTime > 0.5 ? ok() : setTimeout(t, 50); t(); });
  v.pause();
  return {duration, time: v.currentTime, videoBytes: v.webkitVideoDecodedByteCount,
          audioBytes: v.webkitAudioDecodedByteCount, width: v.videoWidth, error: v.error};
}"""


def test_exported_clips_play_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    clips = [
        export_clip(FILM, 13.0, 14.5, tmp_path, mode="copy"),  # H.264 + AAC copied
        export_clip(FILM, 13.3, 14.1, tmp_path, mode="exact"),  # re-encoded
        export_clip(PANCAKE, 6.5, 7.5, tmp_path, mode="copy"),  # H.264 + Opus copied from Matroska
    ]
    (tmp_path / "index.html").write_text("<!doctype html><title>clips</title><body></body>")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
        )
        page = browser.new_page()
        page.goto((tmp_path / "index.html").as_uri())
        for clip in clips:
            got = page.evaluate(PLAY, clip.path.name)
            assert got["error"] is None, clip.path.name
            assert got["duration"] == pytest.approx(clip.duration_s, abs=0.06), clip.path.name
            assert got["time"] > 0.5 and got["width"] > 0
            assert got["videoBytes"] > 0 and got["audioBytes"] > 0, (clip.path.name, got)
        browser.close()
