"""What a library holds, read-only: its videos, their segments and stored vectors, the files it
may serve and their thumbnails. ``Library.shelf`` hands out one :class:`Shelf` per library; the
HTTP routes, the page and the CLI look videos up through it, never through the catalog.

Every lookup is one catalog read (:mod:`.catalog`), plus the serving rule
(:mod:`.media.servable`) or the thumbnail cache (:mod:`.media.thumbnails`). Paths are compared
as the catalog stores them (:func:`~.filenames.stored_names`: the name given, and its link target).
Nothing here takes the write lock; a video an indexer commits shows up at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tempme.index.catalog import Catalog, SegmentRow
from tempme.index.filenames import stored_names
from tempme.index.hits import Hit
from tempme.index.media import KEY_NAME, Thumbnails, load_key, purge_legacy, servable_file
from tempme.index.reports import VideoRecord

# the methods that were Library's own until issue 21 (Library still answers them, deprecated)
FORMER_LIBRARY_METHODS = (
    "is_library_file",
    "path_with_hash",
    "segment",
    "segment_at",
    "segment_vector",
    "servable_video",
    "thumbnail",
    "thumbnail_dir",
    "video_moments",
    "video_path",
    "video_paths",
    "videos",
)


class Shelf:
    """The read-only lookups of one library over its open ``catalog`` (kept private: the catalog
    is internal); ``thumbnails`` is the :class:`~.media.Thumbnails` cache in ``<library>/thumbs``,
    keyed by ``<library>/thumbs.key`` (``writable``: the key may be made and legacy files purged)."""

    FILES = (KEY_NAME,)  # what the shelf keeps in the library folder (checked by catalog.locate)

    def __init__(self, library_dir: Path, catalog: Catalog, *, writable: bool) -> None:
        self._catalog = catalog
        self.thumbnails = Thumbnails(Path(library_dir) / "thumbs", load_key(library_dir, writable=writable))
        if writable:
            purge_legacy(self.thumbnail_dir)

    @property
    def thumbnail_dir(self) -> Path:
        """``<library>/thumbs``: the JPEGs of :meth:`thumbnail` (keyed-hash names)."""
        return self.thumbnails.folder

    def videos(self, offset: int = 0, limit: int = 50) -> tuple[int, list[VideoRecord]]:
        """(how many videos, indexed or failed; those ``offset`` to ``offset + limit`` by path)."""
        return self._catalog.video_total(), self._catalog.video_records(offset, limit)

    def video_paths(self) -> list[Path]:
        """Every indexed video, sorted."""
        return self._catalog.indexed_paths()

    def video_path(self, video_id: int) -> Path:
        """The stored path of video ``video_id``. Raises KeyError for an unknown id."""
        return self._catalog.video_path(video_id)

    def path_with_hash(self, digest: str) -> Path | None:
        """An indexed video whose bytes have this :func:`~.media.files.content_hash`, or None."""
        return self._catalog.path_with_hash(digest)

    def is_library_file(self, path: str | os.PathLike) -> bool:
        """True when ``path`` is an indexed video, by its indexed name or its link target (for serving files)."""
        return any(self._catalog.is_indexed_file(name) for name in stored_names(path))

    def segment(self, segment_id: int) -> SegmentRow:
        """The segment with this id and its video. Raises KeyError if there is none."""
        return self._catalog.segment_row(segment_id)

    def segment_at(self, path: str | os.PathLike, t: float) -> SegmentRow | None:
        """The segment of the indexed video at ``path`` that contains ``t`` seconds, or None."""
        return next(filter(None, (self._catalog.segment_at(name, t) for name in stored_names(path))), None)

    def segment_vector(self, segment_id: int) -> np.ndarray:
        """The stored (D,) float32 unit embedding of a segment. Raises KeyError if there is none."""
        return self._catalog.segment_vector(segment_id)

    def video_moments(self, paths: list[Path], per_video: int = 12) -> list[Hit]:
        """The first ``per_video`` segments of each indexed video at ``paths``, as hits in time order
        (ranked 1.. across the videos, in the order of ``paths``; unknown paths give none)."""
        names = list(dict.fromkeys(Path(n) for p in paths for n in stored_names(p)))
        return [Hit.of_segment(row, rank) for rank, row in enumerate(self._catalog.video_segments(names, per_video), 1)]

    def servable_video(self, video_id: int) -> Path:
        """The file of video ``video_id`` if it may be served now (:mod:`.media.servable`: in the catalog, a regular
        file, the file that was indexed), every link resolved. Raises NotServableError."""
        return servable_file(self._catalog.video_record(video_id, missing_ok=True), video_id)

    def thumbnail(self, segment_id: int, max_side: int = 320, *, checked: bool = False) -> Path:
        """A cached JPEG (longest side ``max_side`` pixels) of a frame inside the segment
        (:mod:`.media.thumbnails`). ``checked``: made only from a servable file (:meth:`servable_video`).

        Raises:
            KeyError: no segment ``segment_id``.
            NotServableError: ``checked`` and the video may not be served now."""
        row = self.segment(segment_id)
        path = self.servable_video(row.video_id) if checked else row.path
        return self.thumbnails.get(row.segment_id, path, row.start_s, row.end_s, max_side)
