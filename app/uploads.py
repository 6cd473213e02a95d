"""Uploaded files on their way into a library: checked, deduplicated by content, copied.

Gradio's uploads are temporary files; what is accepted is copied into ``LIBRARY/uploads/`` under
its own (sanitised) name, ``clip-2.mp4`` when ``clip.mp4`` is taken, and indexed from there
(`AppContext.upload`). Every refusal is a sentence naming the file (`app.validate`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tempme.app.validate import InputError, check_upload, check_upload_batch
from tempme.index import content_hash, is_video_name


@dataclass(frozen=True)
class Staged:
    """The copies made for indexing (``stored``, absolute) and why the other files were refused."""

    stored: list[Path]
    rejected: list[str]


def uploaded_paths(files: Iterable[str | Path] | str | Path | None) -> list[Path]:
    """The upload as a list of paths, bounded by `check_upload_batch`.

    Raises InputError: not a list of paths, nothing uploaded, or too many files or bytes."""
    if isinstance(files, (str, Path)):
        files = [files]
    if files is not None and not isinstance(files, (list, tuple)):
        raise InputError(f"Expected a list of uploaded files, got {type(files).__name__}.")
    if any(f and not isinstance(f, (str, Path)) for f in files or []):
        raise InputError("Expected a list of uploaded files (paths).")
    paths = [Path(f) for f in (files or []) if f]
    if not paths:
        raise InputError("Choose one or more video files to upload first.")
    check_upload_batch(paths)
    return paths


def stage_uploads(files: list[Path], folder: Path, known: Callable[[str], Path | None]) -> Staged:
    """Check each file (`check_upload`), refuse those whose content hash the library already
    holds (``known(digest)`` gives its copy) or that come twice, and copy the rest into `folder`.

    Raises InputError ("Nothing was added." and every reason) when no file is accepted; then
    nothing is copied."""
    accepted, rejected, seen = [], [], set()
    for f in files:
        try:
            f = check_upload(f)
        except InputError as e:
            rejected.append(str(e))
            continue
        digest = content_hash(f)
        copy = known(digest)
        if copy is not None or digest in seen:
            where = f"as {copy.name}" if copy is not None else "twice in this upload"
            rejected.append(f"{f.name}: already in the library ({where}).")
            continue
        seen.add(digest)
        accepted.append(f)
    if not accepted:
        raise InputError("Nothing was added. " + " ".join(rejected))
    folder.mkdir(parents=True, exist_ok=True)
    stored = []
    for f in accepted:
        dest = free_name(folder, safe_name(f.name))
        shutil.copyfile(f, dest)
        stored.append(dest.resolve())
    return Staged(stored, rejected)


def remove_unindexed(stored: Iterable[Path], indexed: Callable[[Path], bool]) -> None:
    """Delete the copies that were not indexed (no stray copies, and no "clip-2.mp4" next time)."""
    for dest in stored:
        if not indexed(dest):
            dest.unlink(missing_ok=True)


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem-2.ext``, ``-3`` ... when taken."""
    dest, n = folder / name, 1
    while dest.exists():
        n += 1
        dest = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
    return dest


MAX_STEM_CHARS = 120
"""Longest stored upload name before its extension (file systems allow 255 bytes a name)."""


def safe_name(name: str) -> str:
    """``name`` as stored in ``uploads/``: every character other than letters, digits and ``._-``
    replaced by ``_``, no leading dot (a hidden file is never walked), the stem cut to
    `MAX_STEM_CHARS`, and the video extension kept as it was, lower-cased (``..mp4`` is
    ``video.mp4``, not ``mp4``, which no walk would take for a video)."""
    suffix = Path(name).suffix.lower() if is_video_name(name) else ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    keep = "".join(c if c.isalnum() or c in "._-" else "_" for c in stem)
    return (keep.lstrip("._")[:MAX_STEM_CHARS] or "video") + suffix
