"""Inputs checked before any model loads, and no library left behind by a first run that failed.

:func:`check_video_inputs` reads headers only (PyAV through :mod:`tempme.probe`, no torch): a
file that is no video, or a folder without a video file for a new library, is one error line
in well under 2 s (``bench/watch.py``'s inputs part measures it). :func:`discard_new_library`
removes a library folder a failed first run created (weights that cannot be had, every file
failed), so the next attempt starts clean.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tempme.index import expand_home, printable

from tempme.cli_errors import EXIT_FAILED, fail

log = logging.getLogger(__name__)

# what Library.open(create=True) and a first run write into a new library folder
LIBRARY_FILES = ("library.db", "library.db-wal", "library.db-shm", "library.json", "index.lock", "thumbs.key")
LIBRARY_GLOBS = ("vectors-*.faiss", "thumbs", "serving.json")


def has_library(folder: Path) -> bool:
    folder = expand_home(folder)
    return (folder / "library.db").is_file() or (folder / "library.json").is_file()


def check_video_inputs(paths: list[Path], new_library: bool) -> None:
    """Exit with one error line when ``paths`` hold nothing to index: given files that are no
    video (by their headers) and, for a new library, folders without a video file."""
    from tempme.index.media.files import VIDEO_EXTENSIONS, walk

    from tempme.probe import VideoDecodeError, open_container

    files = [expand_home(p) for p in paths if not expand_home(p).is_dir()]
    folders = [expand_home(p) for p in paths if expand_home(p).is_dir()]
    bad = []
    for f in files:
        try:
            open_container(f).close()
        except VideoDecodeError as exc:
            bad.append(f"{printable(f)} is not a video ({exc.reason})")
    found = len(files) - len(bad)
    if found or not (new_library or not folders):
        return
    if folders and walk(folders, errors=[]):
        return
    said = bad + [f"no video files under {printable(d)}" for d in folders]
    fail(f"{'; '.join(said)} (videos are {', '.join(VIDEO_EXTENSIONS)})")


@contextmanager
def discard_new_library(lib, new: bool) -> Iterator[None]:
    """Remove the library folder ``lib`` if this run created it (``new``) and fails (an error
    line, exit 1, or an unexpected exception) without a single indexed video. An interrupted run
    (SIGTERM, Ctrl+C) keeps its library: it is resumed."""
    import typer

    try:
        yield
    except typer.Exit as exc:
        if new and exc.exit_code == EXIT_FAILED:
            discard(lib)
        raise
    except Exception:
        if new:
            discard(lib)
        raise


def discard(lib) -> None:
    """Delete what a new library wrote (and the folder, when nothing else is in it)."""
    try:
        if lib.stats().videos:
            return
    except Exception:  # a half-made library: still ours to remove
        pass
    lib.close()
    folder = Path(lib.path)
    for name in LIBRARY_FILES:
        (folder / name).unlink(missing_ok=True)
    for pattern in LIBRARY_GLOBS:
        for p in folder.glob(pattern):
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        log.info("%s kept: it holds other files", folder)
