"""The service layer's searches: a text, an image (refined by a text), a span of a library video,
"more like this", the moments of new videos; with the folder choices and the message for a
folder that matches nothing.

:class:`SearchService` is mixed into :class:`tempme.app.context.AppContext` (it uses the
context's ``library()`` and ``start_message()``); every method takes and returns plain values
and raises `InputError` for a person's mistake, so the page and any other front end share it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from tempme.app.validate import MAX_IMAGE_BYTES, InputError, check_upload, clean_k, clean_query, clean_segment_id
from tempme.index import (
    SEARCH_MODES,
    CompoundQuery,
    Hit,
    Library,
    LibraryError,
    Query,
    SearchFilters,
    SortOrder,
    folder_labels,
    is_video_name,
    no_folder_message,
)

logger = logging.getLogger(__name__)
NEW_VIDEO_MOMENTS = 12
"""Moments shown per video by "Show new videos"."""


class SearchService:
    """Searches over ``self.library()``; see the module docstring."""

    def library(self, create: bool = False) -> Library:  # AppContext's
        raise NotImplementedError

    def start_message(self) -> str:  # AppContext's
        raise NotImplementedError

    def _with_thumbnails(self, lib: Library, hits: list[Hit]) -> list[Hit]:
        out = []
        for hit in hits:
            try:
                thumb = str(lib.shelf.thumbnail(hit.segment_id))
            except Exception as e:  # a broken or vanished file must not lose the hit
                logger.warning("no thumbnail for segment %d: %s", hit.segment_id, e)
                thumb = None
            out.append(replace(hit, thumbnail=thumb))
        return out

    def _searchable(self) -> Library:
        lib = self.library()
        if lib.encoder_info(in_use=True) is None:  # no query once it has one (a recorded encoder stays recorded)
            raise InputError(self.start_message())
        return lib

    def _run(
        self, query: Query | CompoundQuery, k: int, filters: SearchFilters, offset: int, mode: str, sort: str,
        per_video: bool = False, thumbnails: bool = True,
    ) -> list[Hit]:  # fmt: skip
        if mode not in SEARCH_MODES:
            raise InputError(f"Search mode must be one of {', '.join(SEARCH_MODES)}, not {mode!r}.")
        lib = self._searchable()
        try:
            hits = lib.search(query, clean_k(k), offset=offset, filters=filters, mode=mode, sort=SortOrder.parse(sort),
                              per_video=per_video)  # fmt: skip
        except (LibraryError, ValueError) as e:  # ExampleQueryError is a ValueError: an unreadable image
            raise InputError(str(e)) from None
        except Exception as e:  # a clip that cannot be decoded (tempme.video, loaded only by example queries)
            if type(e).__name__ != "VideoDecodeError":
                raise
            raise InputError(f"Cannot read that clip: {e.reason}.") from None
        return self._with_thumbnails(lib, hits) if thumbnails else hits

    def search(
        self, query: str | None, k: int, filters: SearchFilters = SearchFilters(), offset: int = 0, mode: str = "all",
        sort: str = "relevance", image: str | Path | None = None, text_weight: float | None = None,
        compound: CompoundQuery | None = None, per_video: bool = False, *, thumbnails: bool = True,
    ) -> list[Hit]:  # fmt: skip
        """The `k` best moments after the first `offset` (ranks offset+1...) for a text, or an
        ``image`` (a file, e.g. an upload) refined by the text when there is one, or a
        ``compound`` "then / while" query (``app.exports.compound_query``) instead; ``mode``: all
        (fused), visual, speech or text (see ``Library.search``); ``sort``: relevance, date,
        date-asc, duration, duration-asc (not for a compound query); ``per_video``: each video's
        best moment only; ``thumbnails``: make each hit's picture now (the page), or leave it to
        be made when asked for (the API).

        Raises InputError for a bad query, image, K, mode or sort, a missing or empty library,
        or a speech / text search on a library without transcripts / on-screen text."""
        if compound is not None:
            if image is not None:
                raise InputError("“Then / while” joins text queries; remove the picture to use it.")
            return self._run(compound, k, filters, offset, mode, sort, per_video, thumbnails)
        if image is None:
            return self._run(Query(text=clean_query(query)), k, filters, offset, mode, sort, per_video, thumbnails)
        path = Path(image)
        if not path.is_file():
            raise InputError("The image is gone (uploads expire): drop it again.")
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise InputError(f"The image has {path.stat().st_size:,} bytes; the limit is {MAX_IMAGE_BYTES:,}.")
        text = clean_query(query) if query and query.strip() else ""
        query_ = Query(text=text, image=path, text_weight=text_weight)
        return self._run(query_, k, filters, offset, mode, sort, per_video, thumbnails)

    def search_clip(
        self, clip: str | Path, query: str | None, k: int, filters: SearchFilters = SearchFilters(), offset: int = 0,
        mode: str = "all", sort: str = "relevance", start_s: float | None = None, end_s: float | None = None,
        include_self: bool = False, text_weight: float | None = None, *, thumbnails: bool = True,
    ) -> list[Hit]:  # fmt: skip
        """Moments like a video ``clip`` (e.g. an upload; the whole file, or ``[start_s, end_s)``
        of it), encoded as indexing encodes a segment, refined by the text when there is one; a
        library video is left out of its own results unless ``include_self``.

        Raises InputError for a file that is not a readable video, a bad span, K, mode or sort."""
        path = check_upload(clip)
        try:
            start = None if start_s in (None, "") else float(start_s)
            end = None if end_s in (None, "") else float(end_s)
        except (TypeError, ValueError):
            raise InputError(f"The span must be two numbers of seconds, got {start_s!r} and {end_s!r}.") from None
        text = clean_query(query) if query and query.strip() else ""
        q = Query(text=text, clip=path, start_s=start, end_s=end, include_self=bool(include_self),
                  text_weight=text_weight)  # fmt: skip
        return self._run(q, k, filters, offset, mode, sort, thumbnails=thumbnails)

    def search_example(self, example: str | Path, query: str | None, k: int, **options) -> list[Hit]:
        """An uploaded example, whichever it is: a video file (by its extension, as indexing
        tells them) goes to :meth:`search_clip`, anything else to :meth:`search` as an image.
        ``options``: those methods' keywords (filters, offset, mode, sort, text_weight,
        thumbnails; for a clip also start_s, end_s, include_self). Raises InputError as they do, and for span
        options given with an image."""
        if is_video_name(Path(example)):
            return self.search_clip(example, query, k, **options)
        span = {n: options.pop(n, None) for n in ("start_s", "end_s", "include_self")}
        if span["start_s"] not in (None, "") or span["end_s"] not in (None, ""):
            raise InputError("A span (start / end) needs a video clip, not an image.")
        return self.search(query, k, image=example, **options)

    def like_span(
        self, video: str | Path, start_s: float, end_s: float, k: int, filters: SearchFilters = SearchFilters(),
        offset: int = 0, sort: str = "relevance",
    ) -> list[Hit]:  # fmt: skip
        """ "Find moments like this span": ``[start_s, end_s)`` of a library video encoded as
        indexing encodes a segment (its stored vector when the span is one), the video itself
        left out. Raises InputError for a video not in the library or a span outside it."""
        lib = self._searchable()
        if not lib.shelf.is_library_file(video):
            raise InputError(f"{Path(video).name} is not (or no longer) in the library.")
        try:
            start, end = float(start_s), float(end_s)
        except (TypeError, ValueError):
            raise InputError(f"The span must be two numbers of seconds, got {start_s!r} and {end_s!r}.") from None
        return self._run(Query(clip=Path(video), start_s=start, end_s=end), k, filters, offset, "visual", sort)

    def similar(
        self, segment_id: int, k: int, filters: SearchFilters = SearchFilters(), offset: int = 0, *,
        thumbnails: bool = True,
    ) -> list[Hit]:  # fmt: skip
        """ "More like this": search with the stored vector of `segment_id`, itself excluded
        (``thumbnails`` as for :meth:`search`)."""
        k, segment_id = clean_k(k), clean_segment_id(segment_id)
        lib = self._searchable()
        try:
            vec = lib.shelf.segment_vector(segment_id)
        except (KeyError, TypeError, ValueError):
            raise InputError(f"Segment {segment_id} is not in the library (re-indexed or removed).") from None
        hits = lib.search_vector(vec, k, offset=offset, exclude_segment=int(segment_id), filters=filters)
        return self._with_thumbnails(lib, hits) if thumbnails else hits

    def new_moments(self, videos: Iterable[str | Path], per_video: int = NEW_VIDEO_MOMENTS) -> list[Hit]:
        """The moments of ``videos`` (e.g. just added), each video's first ``per_video`` in time
        order, with thumbnails; only indexed library videos are shown."""
        lib = self.library()
        return self._with_thumbnails(lib, lib.shelf.video_moments([Path(v) for v in videos], per_video))

    def folder_choices(self) -> list[str]:
        """The library's folders, short (``videos``, ``videos/edge``): choices for the folder filter."""
        try:
            return folder_labels(self.library().stats().folders)
        except InputError:
            return []

    def no_match_message(self, filters: SearchFilters) -> str | None:
        """For an empty result: the folder filter matches none of the library's folders (and
        which folders there are), else None."""
        if not filters.folder:
            return None
        try:
            return no_folder_message(filters.folder, self.library().stats().folders)
        except InputError:
            return None
