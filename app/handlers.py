"""What the search page does, as plain functions over one library: search, page, play, add.

The Gradio page (`app/ui.py`) is a thin shell over `AppContext`; it takes and returns plain
Python values (no Gradio types), so it is unit-tested without a server or a browser. Every
problem a person can cause (see `app.validate`; also a missing or empty library, a folder the
server does not allow) raises `InputError`, whose message is shown on the page as is.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tempme.app.validate import (  # noqa: F401  (re-exported for the page and the tests)
    MAX_K,
    MAX_QUERY_CHARS,
    VIDEO_EXTENSIONS,
    Filters,
    InputError,
    check_upload,
    clean_k,
    clean_query,
    make_filters,
)

logger = logging.getLogger(__name__)

QUERY_CACHE = 256
"""Text embeddings kept per server (cleared when the library's encoder could change: never,
a library has one encoder for life)."""


def format_time(seconds: float) -> str:
    """``75.25`` -> ``"1:15.2"``; hours when needed (``"1:02:03.0"``)."""
    seconds = max(0.0, float(seconds))
    minutes, sec = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{sec:04.1f}"
    return f"{minutes}:{sec:04.1f}"


@dataclass(frozen=True)
class Moment:
    """One search hit as the page shows it (times in seconds)."""

    segment_id: int
    video_id: int
    path: str
    start_s: float
    end_s: float
    score: float
    rank: int
    duration_s: float
    thumbnail: str | None

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def span(self) -> str:
        return f"{format_time(self.start_s)}–{format_time(self.end_s)}"

    @property
    def caption(self) -> str:
        return f"{self.score:.3f} · {self.name} · {self.span}"

    def to_dict(self) -> dict:
        return {
            "segment_id": self.segment_id,
            "video_id": self.video_id,
            "video": self.path,  # not "path": gradio_client would take the dict for a file to download
            "start_s": self.start_s,
            "end_s": self.end_s,
            "score": self.score,
            "rank": self.rank,
            "duration_s": self.duration_s,
        }


@dataclass
class SearchState:
    """What the page is showing: the search that made it (text or a segment's vector) and its
    results so far, so that "load more" can fetch the next page."""

    query: str | None = None
    similar_to: int | None = None
    k: int = 12
    filters: Filters = field(default_factory=Filters)
    moments: list[Moment] = field(default_factory=list)
    exhausted: bool = False

    @property
    def active(self) -> bool:
        return self.query is not None or self.similar_to is not None


ProgressFn = Callable[[int, int, str], None]


class AppContext:
    """The served library and what the handlers share.

    Two `Library` objects on the same directory: a reader for searches (its FAISS index is
    reloaded when an indexing run saves a new one; searches take turns on it, thumbnails are
    made in parallel) and a writer for adding videos (one run at a time). Searches go on while videos are indexed, and see them as
    soon as the writer saves its index (every few videos and at the end).

    Args:
        library_dir: the library directory (`tempme --library DIR serve`).
        allow_folder_add: accept a server folder path in `add_folder` (off by default: it lets a
            page user make the server read any folder it can).
        on_new_files: called with the paths of videos just added (the server allows them).
    """

    def __init__(
        self,
        library_dir: str | Path,
        *,
        allow_folder_add: bool = False,
        on_new_files: Callable[[list[Path]], None] | None = None,
    ) -> None:
        self.library_dir = Path(library_dir).expanduser().resolve()
        self.allow_folder_add = allow_folder_add
        self.on_new_files = on_new_files
        self._open_lock = threading.Lock()
        self._read_lock = threading.Lock()  # FAISS reloads must not overlap a search
        self._add_lock = threading.Lock()
        self._reader = None
        self._query_cache: dict[str, object] = {}
        self._cache_lock = threading.Lock()
        self._batcher = None
        self._writer = None
        self.last_add: str | None = None
        # Browser-playable copies of AVI/MKV videos go to Gradio's private folder (served).
        self.remux_dir = Path(os.environ.get("GRADIO_TEMP_DIR", tempfile.gettempdir())) / "tempme-remux"

    @property
    def uploads_dir(self) -> Path:
        return self.library_dir / "uploads"

    @property
    def thumbnail_dir(self) -> Path:
        return self.library_dir / "thumbs"

    def _open(self):
        from tempme.index.library import Library, LibraryError

        try:
            return Library.open(self.library_dir, create=False)
        except LibraryError as e:
            raise InputError(f"{str(e)[:1].upper()}{str(e)[1:]}.") from None

    def library(self):
        """The reader library, its index brought up to date. Raises InputError when there is
        no library at `library_dir`."""
        with self._open_lock:
            if self._reader is None:
                self._reader = self._open()
        with self._read_lock:
            self._reader.refresh()
        return self._reader

    def _empty_message(self) -> str:
        return (
            f"The library at {self.library_dir} is empty: add videos below, or run "
            f"`tempme --library {self.library_dir} index VIDEO_DIR`."
        )

    # -- search -----------------------------------------------------------------------------

    def _moments(self, lib, hits) -> list[Moment]:
        out = []
        for hit in hits:
            try:
                thumb = str(lib.thumbnail(hit.segment_id))
            except Exception as e:  # a broken or vanished file must not lose the hit
                logger.warning("no thumbnail for segment %d: %s", hit.segment_id, e)
                thumb = None
            out.append(
                Moment(
                    segment_id=int(hit.segment_id),
                    video_id=int(hit.video_id),
                    path=str(hit.path),
                    start_s=float(hit.start_s),
                    end_s=float(hit.end_s),
                    score=float(hit.score),
                    rank=int(hit.rank),
                    duration_s=float(hit.duration_s),
                    thumbnail=thumb,
                )
            )
        return out

    def _run(self, lib, fn, *, locked: bool = True):
        from tempme.index.library import LibraryError

        try:
            if not locked:
                return fn()
            with self._read_lock:  # FAISS (and its reloads); encoding and thumbnails run outside
                return fn()
        except LibraryError as e:
            if lib.encoder_info() is None:
                raise InputError(self._empty_message()) from None
            raise InputError(str(e)) from None

    def search(self, query: str, k: int, filters: Filters = Filters(), offset: int = 0) -> list[Moment]:
        """Text search: the `k` best moments after the first `offset` (ranks offset+1...).

        Raises InputError for a bad query or K, a missing or empty library."""
        query, k = clean_query(query), clean_k(k)
        lib = self.library()
        if lib.encoder_info() is None:
            raise InputError(self._empty_message())
        vec = self._run(lib, lambda: self._query_vector(lib, query), locked=False)
        hits = self._run(lib, lambda: lib.search_vector(vec, k, offset=offset, filters=filters.to_search_filters()))
        return self._moments(lib, hits)

    def _query_vector(self, lib, query: str):
        """(D,) text embedding: from the last `QUERY_CACHE` queries ("load more" and a repeated
        search do not encode again), else from the text tower, batched with concurrent searches."""
        with self._cache_lock:
            vec = self._query_cache.pop(query, None)
        if vec is None:
            vec = self._text_batcher(lib).encode(query)
        with self._cache_lock:
            self._query_cache[query] = vec  # most recent last
            while len(self._query_cache) > QUERY_CACHE:
                self._query_cache.pop(next(iter(self._query_cache)))
        return vec

    def _text_batcher(self, lib):
        from tempme.app.textbatch import TextBatcher

        with self._open_lock:
            if self._batcher is None:
                import torch

                encoder = lib.encoder()  # loaded once, here, so that errors reach this caller

                def encode_many(texts):
                    with torch.inference_mode():
                        return encoder.encode_text(list(texts)).float().cpu().numpy()

                self._batcher = TextBatcher(encode_many)
            return self._batcher

    def similar(self, segment_id: int, k: int, filters: Filters = Filters(), offset: int = 0) -> list[Moment]:
        """"More like this": search with the stored vector of `segment_id`, itself excluded."""
        k = clean_k(k)
        lib = self.library()
        try:
            vec = lib.segment_vector(int(segment_id))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"Segment {segment_id} is not in the library (re-indexed or removed).") from None
        hits = self._run(
            lib,
            lambda: lib.search_vector(
                vec, k, offset=offset, exclude_segment=int(segment_id), filters=filters.to_search_filters()
            ),
        )
        return self._moments(lib, hits)

    def next_page(self, state: SearchState) -> list[Moment]:
        """The results after those already in `state` (same search, same K and filters)."""
        if not state.active:
            raise InputError("Search first; then “load more” fetches the next results.")
        offset = len(state.moments)
        if state.similar_to is not None:
            return self.similar(state.similar_to, state.k, state.filters, offset)
        return self.search(state.query, state.k, state.filters, offset)

    def playable(self, moment: Moment) -> Path:
        """The file to play for `moment` (a browser-playable copy for AVI/MKV); refuses
        anything that is not an indexed library video."""
        from tempme.app.media import playable_file

        lib = self.library()
        path = Path(moment.path)
        if not lib.is_library_file(path):
            raise InputError(f"{path.name} is not (or no longer) in the library.")
        if self.on_new_files is not None:  # e.g. indexed by `tempme index` while serving
            self.on_new_files([path])
        return playable_file(path, self.remux_dir)

    def video_paths(self) -> list[Path]:
        """Every indexed video of the library."""
        from sqlalchemy import select

        from tempme.index.models import Video

        lib = self.library()
        with lib.Session() as s:
            return [Path(p) for p in s.scalars(select(Video.path).where(Video.status == "indexed")).all()]

    def media_paths(self) -> list[Path]:
        """Every file the page may serve: the library's videos and its thumbnail folder
        (videos indexed later are added as they are played or added from the page)."""
        try:
            videos = self.video_paths()
        except InputError:
            videos = []
        return [*videos, self.thumbnail_dir]

    # -- adding videos ----------------------------------------------------------------------

    def _index(self, paths: list[Path], progress: ProgressFn | None) -> str:
        from tempme.index.library import LibraryBusyError, LibraryError

        reader = self.library()
        info = reader.encoder_info()
        if info is None:
            raise InputError(
                f"The library at {self.library_dir} has no encoder yet: index a first folder with "
                f"`tempme --library {self.library_dir} index VIDEO_DIR --model ... --pretrained ...`."
            )
        with self._add_lock:
            if self._writer is None:
                self._writer = self._open()
            try:
                report = self._writer.add(
                    paths, model=info["arch"], pretrained=info["pretrained"],
                    encoder=reader.encoder(), progress=progress, wait=5.0,
                )
            except LibraryBusyError:
                raise InputError("Another tempme process is indexing this library; try again when it is done.") from None
            except (LibraryError, FileNotFoundError) as e:
                raise InputError(str(e)) from None
        added = [p for p in self.video_paths() if _under(p, paths)]
        if self.on_new_files is not None and added:
            self.on_new_files(added)
        self.last_add = summarize_report(report)
        logger.info("page add: %s", self.last_add)
        return self.last_add

    def add_files(self, files: Iterable[str | Path] | None, progress: ProgressFn | None = None) -> str:
        """Index uploaded files: each is checked (`check_upload`), copied into
        ``LIBRARY/uploads/`` under a fresh name (Gradio's uploads are temporary) and indexed.

        Returns the run's summary. Raises InputError when nothing was uploaded or no file is a
        readable video (with every file's reason); files that pass are indexed even when
        others are rejected, and the rejections are appended to the summary.
        """
        files = [Path(f) for f in (files or []) if f]
        if not files:
            raise InputError("Choose one or more video files to upload first.")
        self.library()  # a missing library is reported before anything is copied
        accepted, rejected = [], []
        for f in files:
            try:
                accepted.append(check_upload(f))
            except InputError as e:
                rejected.append(str(e))
        if not accepted:
            raise InputError("Nothing was added. " + " ".join(rejected))
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        stored = []
        for f in accepted:
            dest = self.uploads_dir / f"{uuid.uuid4().hex[:8]}-{_safe_name(f.name)}"
            shutil.copyfile(f, dest)
            stored.append(dest.resolve())
        summary = self._index(stored, progress)
        if rejected:
            summary += " Not added: " + " ".join(rejected)
        return summary

    def add_folder(self, folder: str | None, progress: ProgressFn | None = None) -> str:
        """Index a folder on the server (recursively), when the server was started with
        ``--allow-folder-add``. Raises InputError otherwise, or for a path that is not a folder."""
        if not self.allow_folder_add:
            raise InputError("This server does not accept folder paths; start it with --allow-folder-add.")
        text = (folder or "").strip()
        if not text or any(unicodedata.category(c) == "Cc" for c in text):
            raise InputError("Give the absolute path of a folder on the server.")
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise InputError(f"{text!r} is not an absolute path.")
        if not path.is_dir():
            raise InputError(f"{path} is not a folder on the server.")
        return self._index([path.resolve()], progress)

    # -- status -----------------------------------------------------------------------------

    def status(self) -> str:
        """One line: library size, encoder, index type, last indexing run and its failures."""
        try:
            lib = self.library()
        except InputError as e:
            return str(e)
        return format_stats(lib.stats(), self.last_add)


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _safe_name(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return keep.strip("._") or "video"


def summarize_report(report) -> str:
    """One paragraph from an indexing run's `IndexReport`, its failures named."""
    text = report.summary() + "."
    if report.errors:
        text += " Failed: " + "; ".join(f"{Path(p).name}: {why}" for p, why in report.errors[:5])
        if len(report.errors) > 5:
            text += f"; and {len(report.errors) - 5} more"
    return text


def format_stats(stats, last_add: str | None = None) -> str:
    """The status line from `LibraryStats` (+ the page's own last indexing summary)."""
    parts = [f"**{stats.videos}** videos · **{stats.segments}** moments"]
    enc = stats.encoder
    if enc:
        adapter = f", adapter {enc['adapter_hash'][:8]}" if enc.get("adapter_hash") else ", no adapter"
        weights = "random" if str(enc["pretrained"]) == "none" else Path(str(enc["pretrained"])).name
        parts.append(f"encoder {enc['arch']} ({weights} weights{adapter})")
    else:
        parts.append("no encoder yet")
    parts.append(f"index {stats.index_type} ({stats.vectors} vectors)")
    run = stats.last_run
    if run:
        when = str(run["started_at"]).replace("T", " ")[:16]
        parts.append(
            f"last run {when} UTC: {run['videos_indexed']} indexed, {run['failures']} failed"
            + ("" if run.get("finished", True) else " (unfinished)")
        )
    if stats.failed:
        names = ", ".join(Path(p).name for p, _ in stats.failures[:3])
        parts.append(f"{stats.failed} failed files ({names}{', …' if stats.failed > 3 else ''})")
    line = " · ".join(parts)
    return line if not last_add else f"{line}  \nLast upload: {last_add}"
