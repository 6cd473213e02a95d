"""The one progress-bar helper of the CLI, and clean stops on SIGTERM.

:func:`video_bar` is a tqdm bar over videos (on a terminal only: a log or CI gets the summary
line; log lines print above the bar) and the :class:`tempme.index.ProgressFn` that drives it,
for ``reindex``; :func:`seconds_bar` is ``index``'s and each stage of ``enrich``'s, in seconds of
video with the ETA from the measured rate and the current file's own progress.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tempme.index import ProgressFn


@contextmanager
def video_bar(desc: str) -> Iterator[ProgressFn]:
    """A bar labelled ``desc`` while the block runs (closed on any exit); yields its
    ``progress(done, total, path)``, which sets the total and shows the last video's name."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    bar = tqdm(
        total=None, unit="video", desc=desc, dynamic_ncols=True, file=sys.stderr, disable=not sys.stderr.isatty()
    )

    def progress(done: int, total: int, path: str) -> None:
        bar.total = total
        if path:  # the label first: the count never runs ahead of the name it shows
            bar.set_postfix_str(f"done: {Path(path).name[-40:]}", refresh=False)
        bar.n = done
        bar.refresh()

    try:
        with logging_redirect_tqdm(tqdm_class=tqdm):
            yield progress
    finally:
        bar.close()


class _SecondsBar:
    """A ``ProgressFn`` with ``seconds``: the bar counts seconds of video (what takes time), its
    ETA from the rate measured over the whole run (tqdm ``smoothing=0``), the postfix the file
    being encoded with its own part and the videos done."""

    def __init__(self, bar) -> None:
        self.bar = bar

    def __call__(self, done: int, total: int, path: str) -> None:
        pass  # whole videos: said by seconds() as well

    def seconds(self, p) -> None:
        self.bar.total = round(p.total_s, 1)
        self.bar.n = round(min(p.done_s, p.total_s), 1)
        current = (
            f"{Path(p.current).name[-40:]} {p.current_done_s:.0f}/{p.current_total_s:.0f} s, " if p.current else ""
        )
        self.bar.set_postfix_str(f"{current}{p.videos_done}/{p.videos_total} videos", refresh=False)
        self.bar.refresh()


@contextmanager
def seconds_bar(desc: str) -> Iterator[ProgressFn]:
    """Like :func:`video_bar`, in seconds of video (the ``IngestProgress`` of ``Library.add`` and
    ``Library.enrich``)."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    bar = tqdm(
        total=1, unit="s", desc=desc, dynamic_ncols=True, file=sys.stderr, disable=not sys.stderr.isatty(),
        smoothing=0, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s of video [{elapsed}<{remaining}{postfix}]",
    )  # fmt: skip
    try:
        with logging_redirect_tqdm(tqdm_class=tqdm):
            yield _SecondsBar(bar)
    finally:
        bar.close()


@contextmanager
def stop_on_sigterm(lib) -> Iterator[None]:
    """While indexing, SIGTERM (systemd, docker stop, kill) interrupts the run cleanly: the
    current batch finishes, committed videos are saved, the lock is released (exit status 143)."""
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda signum, frame: lib.interrupt())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_if_interrupted(interrupted: bool) -> None:
    """Exit with 128 + SIGTERM when a run stopped early (its summary is already printed)."""
    import typer

    if interrupted:
        raise typer.Exit(128 + signal.SIGTERM)
