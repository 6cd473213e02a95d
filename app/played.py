"""The copies of library videos the page plays, and their removal when a video leaves the library.

Gradio serves files from its own private folder; the page never adds a video's folder (or the
video itself) to Gradio's allowed paths. A played video is linked (a hard link of the file
already opened and checked, where the file system allows; else copied) into a private folder
under an unguessable name (a keyed hash of the file's identity), and deleted again by
:meth:`PlayedCopies.forget` once the video is no longer in the catalog (docs/security.md).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tempme.app.validate import InputError
from tempme.index import Library, LibraryError

logger = logging.getLogger(__name__)


class PlayedCopies:
    """Copies in ``play_dir`` (``tempme-play`` beside ``remux_dir``, or with ``private`` a fresh
    temporary folder removed at exit; made 0700 on first use); remuxed copies of them in
    ``remux_dir`` (:func:`tempme.app.media.playable_file`, removed with them)."""

    def __init__(self, remux_dir: Path, *, private: bool = False) -> None:
        self.remux_dir = Path(remux_dir)
        self.play_dir = (
            Path(tempfile.mkdtemp(prefix="tempme-play-")) if private else self.remux_dir.parent / "tempme-play"
        )
        if private:
            atexit.register(shutil.rmtree, self.play_dir, ignore_errors=True)
        self._key = secrets.token_bytes(16)  # names nobody can derive from the file
        self._copies: dict[Path, Path] = {}  # a copy -> the library video it is a copy of
        self._lock = threading.Lock()

    def play(self, library: Library, video: Path) -> Path:
        """The file the page plays for the library video ``video``: the copy of the file
        ``library.open_video`` opened and checked, remuxed to MP4 for AVI/MKV.

        Raises:
            InputError: it may not be served (not in the library now, not a regular file, not
                the file that was indexed: the reason in one line)."""
        from tempme.app.media import playable_file

        try:
            with library.open_video(video) as fh:
                copy = self.add(fh, video)
        except LibraryError as e:
            raise InputError(str(e)) from None
        return playable_file(copy, self.remux_dir)

    def add(self, fh: BinaryIO, video: Path) -> Path:
        """The copy of the open, checked file ``fh`` (the library video ``video``)."""
        st = os.fstat(fh.fileno())
        ident = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode()
        token = hashlib.blake2b(ident, key=self._key, digest_size=16).hexdigest()
        suffix = video.suffix.lower() if video.suffix[1:].isascii() and video.suffix[1:].isalnum() else ".mp4"
        copy = self.play_dir / f"{token}{suffix}"
        with self._lock:
            if not copy.is_file():
                self.play_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                tmp = copy.with_name(f".{copy.name}.part")
                tmp.unlink(missing_ok=True)
                try:  # the inode already opened and checked, never the name again
                    os.link(f"/proc/self/fd/{fh.fileno()}", tmp)
                except OSError:  # another file system, protected hard links, no /proc
                    with open(tmp, "wb") as out:
                        shutil.copyfileobj(fh, out, 1 << 20)
                os.replace(tmp, copy)
            self._copies[copy] = video
        return copy

    def forget(self, in_library: Callable[[Path], bool]) -> int:
        """Delete the copies whose video ``in_library`` says is gone; returns how many."""
        with self._lock:
            gone = [c for c, v in self._copies.items() if not in_library(v)]
            for copy in gone:
                copy.unlink(missing_ok=True)
                for remuxed in self.remux_dir.glob(f"*-{copy.stem}.mp4"):
                    remuxed.unlink(missing_ok=True)
                logger.info("%s left the library: its served copy is deleted", self._copies.pop(copy).name)
        return len(gone)
