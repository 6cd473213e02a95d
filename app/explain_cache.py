"""Explain pictures for the page: how TempMe merged one moment's tokens, made on demand.

Each picture (:mod:`tempme.explain`: the segment's 12 frames as the encoder sampled them, each
merged token group a colour) is made once per file (path, size, modification time), span and
encoder, and kept under a private folder of the server process.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from tempme.app.validate import InputError
from tempme.index import Library, LibraryError


def private_folder() -> Path:
    """A private folder of this process for the pictures, under the system temp folder (which
    Gradio accepts as an output location), with an unguessable name and removed at exit, so no
    other user can plant or read a picture and nothing accumulates across runs."""
    path = Path(tempfile.mkdtemp(prefix="tempme-explain-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def explain_picture(lib: Library, segment_id: int, name: str, folder: Path) -> Path:
    """The PNG for segment `segment_id` of `lib` (``name``: its file's name, for messages), from
    `folder` when made before, else made with the library's encoder and written there atomically.

    Raises InputError for a segment or video no longer in the library, or a file that cannot be
    decoded or encoded."""
    from tempme.explain import explain_clip, render_moment
    from tempme.video import VideoDecodeError
    from tempme.weights import WeightsUnavailableError

    try:
        row = lib.shelf.segment(int(segment_id))
    except (KeyError, TypeError, ValueError):
        raise InputError(f"This moment of {name} is no longer in the library (re-indexed or removed).") from None
    if not lib.shelf.is_library_file(row.path):
        raise InputError(f"{row.path.name} is not (or no longer) in the library.")
    stamp = row.path.stat()
    key = json.dumps(
        [str(row.path), stamp.st_size, stamp.st_mtime_ns, row.start_s, row.end_s, lib.encoder_info()],
        sort_keys=True,
        default=str,
    )
    out = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.png"
    if out.is_file():
        return out
    try:
        moment = explain_clip(lib.encoder(), row.path, row.start_s, row.end_s)
    except (LibraryError, WeightsUnavailableError, VideoDecodeError, ValueError) as e:
        raise InputError(f"Cannot explain this moment: {e}") from None
    folder.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    render_moment(moment).save(tmp, format="PNG")
    os.replace(tmp, out)
    return out
