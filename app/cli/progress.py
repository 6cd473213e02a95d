"""The one progress-bar helper of the CLI, and clean stops on SIGTERM.

:func:`video_bar` is a tqdm bar over videos (on a terminal only: a log or CI gets the summary
line; log lines print above the bar) and the :class:`tempme.index.ProgressFn` that drives it,
for ``index``, ``reindex`` and each stage of ``enrich``.
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
        bar.update(done - bar.n)
        if path:
            bar.set_postfix_str(f"done: {Path(path).name[-40:]}")
        else:
            bar.refresh()

    try:
        with logging_redirect_tqdm(tqdm_class=tqdm):
            yield progress
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
