"""An add's progress on the page (Gradio's progress bar), as the CLI's bar shows it."""

from __future__ import annotations

from pathlib import Path

import gradio as gr


class PageProgress:
    """A `ProgressFn` that shows an add's progress on the page: in seconds of video (what takes
    time; `IngestProgress`) with the file being encoded and its own part, as the CLI's bar."""

    def __init__(self, progress: gr.Progress) -> None:
        self.progress = progress

    def __call__(self, done: int, total: int, name: str) -> None:
        if not name and not done:
            self.progress((0, max(total, 1)), desc="loading the encoder", unit="videos")

    def seconds(self, p) -> None:
        if p.current:
            desc = f"{Path(p.current).name} {p.current_done_s:.0f}/{p.current_total_s:.0f} s"
        else:
            desc = f"{p.videos_done}/{p.videos_total} videos"
        eta = f", about {p.eta_s:.0f} s left" if p.eta_s is not None and p.done_s > 0 else ""
        self.progress((round(p.done_s, 1), round(max(p.total_s, 0.1), 1)), desc=desc + eta, unit="s of video")


def progress_bar(progress: gr.Progress) -> PageProgress:
    """The page's progress bar as a `ProgressFn` (for `AppContext.upload` / `add_folder`)."""
    return PageProgress(progress)
