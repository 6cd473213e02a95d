"""What the search page does, as plain functions over one library: search, page, play, add.

The Gradio page (`app/ui.py`) is a thin shell over `AppContext`; it takes and returns plain
Python values (no Gradio types), so it is unit-tested without a server or a browser. Every
problem a person can cause (see `app.validate`; also a missing or empty library, a folder the
server does not allow) raises `InputError`, whose message is shown on the page as is.

Results are the library's own `Hit`s (with their thumbnail filled in) and filters its own
`SearchFilters`; text -> vector (micro-batched, cached) is the library's `QueryEncoder`.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from tempme.app.validate import (  # noqa: F401  (re-exported for the page and the tests)
    MAX_K,
    MAX_QUERY_CHARS,
    RANDOM_WEIGHTS,
    WEIGHTS_FILE,
    InputError,
    check_upload,
    check_upload_batch,
    clean_encoder_choice,
    clean_k,
    clean_query,
    make_filters,
)
from tempme.index import (  # noqa: F401  (re-exported for the page and the tests)
    SEARCH_MODES,
    EncoderSpec,
    Hit,
    IndexReport,
    Library,
    LibraryBusyError,
    LibraryError,
    LibraryStats,
    SearchFilters,
    content_hash,
    format_time,
    is_under,
    plural,
)

logger = logging.getLogger(__name__)


@dataclass
class SearchState:
    """What the page is showing: the search that made it (text or a segment's vector) and its
    results so far, so that "load more" can fetch the next page."""

    query: str | None = None
    similar_to: int | None = None
    similar_label: str = ""  # "clip.mp4 at 0:41": the source moment, for people
    new_videos: tuple[Path, ...] = ()  # showing the moments of these just-added videos
    k: int = 12
    filters: SearchFilters = field(default_factory=SearchFilters)
    moments: list[Hit] = field(default_factory=list)
    exhausted: bool = False
    mode: str = "all"

    @property
    def active(self) -> bool:
        return self.query is not None or self.similar_to is not None


ProgressFn = Callable[[int, int, str], None]

ARCHITECTURES = ("ViT-B-32", "ViT-B-16", "tempme-tiny")
"""Models the page offers for a new library (tempme.weights.SUPPORTED_ARCHS, without importing torch)."""
NEW_VIDEO_MOMENTS = 12
"""Moments shown per video by "Show new videos"."""


@dataclass(frozen=True)
class AddResult:
    """What one add from the page did: its summary in plain words and the videos it indexed."""

    summary: str
    videos: tuple[Path, ...] = ()


@dataclass(frozen=True)
class VideoGroup:
    """The moments of one video among the results, shown together (like key moments under a
    video): ``moments`` in time order, ``indices`` their positions in the flat result list (what
    a click selects), ``best`` the best-ranked of them (its picture heads the card)."""

    best: Hit
    moments: tuple[Hit, ...]
    indices: tuple[int, ...]


def group_by_video(hits: list[Hit]) -> list[VideoGroup]:
    """Group ranked hits by video: groups in the order of their best hit, moments in time order.
    Every hit is in exactly one group; nothing is dropped or reordered across videos' best hits."""
    by_video: dict[int, list[int]] = {}
    for i, h in enumerate(hits):
        by_video.setdefault(h.video_id, []).append(i)
    groups = []
    for idx in by_video.values():  # dicts keep insertion order: the order of each video's best hit
        in_time = sorted(idx, key=lambda i: (hits[i].start_s, hits[i].end_s))
        groups.append(VideoGroup(hits[idx[0]], tuple(hits[i] for i in in_time), tuple(in_time)))
    return groups


class AppContext:
    """The served library and what the handlers share.

    One `Library`, opened on first use (a page may be started before the library exists).
    Searches run concurrently on it; adding videos takes the library's write lock for the run
    (``Library.add``), and searches keep going meanwhile and see each video as it is committed.

    Args:
        library_dir: the library directory (`tempme --library DIR serve`).
        allow_folder_add: accept a server folder path in `add_folder` (off by default: it lets a
            page user make the server read any folder it can).
        on_new_files: called with the paths of videos just added (the server allows them).
        remux_dir: where browser-playable copies of AVI/MKV videos go (served by the page; `tempme
            serve` passes Gradio's private folder). Default: a ``tempme-remux`` temporary folder.
    """

    def __init__(
        self,
        library_dir: str | Path,
        *,
        allow_folder_add: bool = False,
        on_new_files: Callable[[list[Path]], None] | None = None,
        remux_dir: str | Path | None = None,
    ) -> None:
        self.library_dir = Path(library_dir).expanduser().resolve()
        self.allow_folder_add = allow_folder_add
        self.on_new_files = on_new_files
        self.remux_dir = Path(remux_dir) if remux_dir is not None else Path(tempfile.gettempdir()) / "tempme-remux"
        self._open_lock = threading.Lock()
        self._library: Library | None = None
        self.last_add: str | None = None

    @property
    def uploads_dir(self) -> Path:
        return self.library_dir / "uploads"

    @property
    def thumbnail_dir(self) -> Path:
        return self.library_dir / "thumbs"

    def library(self, create: bool = False) -> Library:
        """The library (opened once; with ``create``, made when there is none yet).

        Raises InputError when there is none at `library_dir` (and not ``create``)."""
        with self._open_lock:
            if self._library is None:
                try:
                    self._library = Library.open(self.library_dir, create=create)
                except LibraryError:
                    raise InputError(self.start_message()) from None
            return self._library

    def needs_encoder(self) -> bool:
        """True while the library does not exist or has no encoder yet: the page offers to start it."""
        try:
            return self.library().encoder_info() is None
        except InputError:
            return True

    def start_message(self) -> str:
        """How to start a library that does not exist yet (or is empty), for the page."""
        exists = self._library is not None  # no lock: library() calls this while holding it
        where = f"No videos in {self.library_dir}" if exists else f"No library at {self.library_dir}"
        return (
            f"{where} yet. To start: open **Add videos** below, choose the "
            f"encoder, and upload videos; or run `tempme --library {self.library_dir} index VIDEO_DIR`."
        )

    def _empty_message(self) -> str:
        return self.start_message()

    def weight_choices(self, arch: str) -> list[tuple[str, str]]:
        """(label, value) of the weights the page offers for a new library with ``arch``: the
        open_clip tags already downloaded to this machine (never a download), a checkpoint file
        on the server, random weights (not semantic)."""
        from tempme.weights import cached_tags

        try:
            tags = cached_tags(arch)
        except ValueError:
            tags = []
        return [
            *((f"{t} (downloaded)", t) for t in tags),
            ("a weights file on the server", WEIGHTS_FILE),
            ("random weights (not semantic: a quick test only)", RANDOM_WEIGHTS),
        ]

    def encoder_choice(
        self, arch: str | None, weights: str | None, weights_file: str | None, adapter: str | None, confirmed: bool
    ) -> EncoderSpec:
        """Check the page's first-run encoder choice (`app.validate.clean_encoder_choice`)."""
        offline = [v for _, v in self.weight_choices(arch)] if arch in ARCHITECTURES else []
        return clean_encoder_choice(
            arch, weights, weights_file, adapter, confirmed, architectures=ARCHITECTURES, offline_tags=offline
        )

    # -- search -----------------------------------------------------------------------------

    def _with_thumbnails(self, lib: Library, hits: list[Hit]) -> list[Hit]:
        out = []
        for hit in hits:
            try:
                thumb = str(lib.thumbnail(hit.segment_id))
            except Exception as e:  # a broken or vanished file must not lose the hit
                logger.warning("no thumbnail for segment %d: %s", hit.segment_id, e)
                thumb = None
            out.append(replace(hit, thumbnail=thumb))
        return out

    def _searchable(self) -> Library:
        lib = self.library()
        if lib.encoder_info() is None:
            raise InputError(self._empty_message())
        return lib

    def _in_library(self, filters: SearchFilters) -> SearchFilters:
        """A relative folder filter ("uploads") means a folder of the library."""
        if filters.folder and not Path(filters.folder).expanduser().is_absolute():
            return replace(filters, folder=str(self.library_dir / filters.folder))
        return filters

    def search(
        self, query: str, k: int, filters: SearchFilters = SearchFilters(), offset: int = 0, mode: str = "all"
    ) -> list[Hit]:
        """Text search: the `k` best moments after the first `offset` (ranks offset+1...);
        ``mode``: all (fused), visual, speech or text (see ``Library.search``).

        Raises InputError for a bad query, K or mode, a missing or empty library, or a speech /
        text search on a library without transcripts / on-screen text."""
        query, k = clean_query(query), clean_k(k)
        if mode not in SEARCH_MODES:
            raise InputError(f"Search mode must be one of {', '.join(SEARCH_MODES)}, not {mode!r}.")
        lib = self._searchable()
        filters = self._in_library(filters)
        try:
            hits = lib.search(query, k, offset=offset, filters=filters, mode=mode)
        except LibraryError as e:
            raise InputError(str(e)) from None
        return self._with_thumbnails(lib, hits)

    def similar(self, segment_id: int, k: int, filters: SearchFilters = SearchFilters(), offset: int = 0) -> list[Hit]:
        """ "More like this": search with the stored vector of `segment_id`, itself excluded."""
        k = clean_k(k)
        lib = self._searchable()
        filters = self._in_library(filters)
        try:
            vec = lib.segment_vector(int(segment_id))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"Segment {segment_id} is not in the library (re-indexed or removed).") from None
        hits = lib.search_vector(vec, k, offset=offset, exclude_segment=int(segment_id), filters=filters)
        return self._with_thumbnails(lib, hits)

    def next_page(self, state: SearchState) -> list[Hit]:
        """The results after those already in `state` (same search, same K and filters)."""
        if not state.active:
            raise InputError("Search first; then “load more” fetches the next results.")
        offset = len(state.moments)
        if state.similar_to is not None:
            return self.similar(state.similar_to, state.k, state.filters, offset)
        return self.search(state.query, state.k, state.filters, offset, state.mode)

    def playable(self, hit: Hit) -> Path:
        """The file to play for `hit` (a browser-playable copy for AVI/MKV); refuses anything
        that is not an indexed library video."""
        from tempme.app.media import playable_file

        lib = self.library()
        path = Path(hit.path)
        if not lib.is_library_file(path):
            raise InputError(f"{path.name} is not (or no longer) in the library.")
        if self.on_new_files is not None:  # e.g. indexed by `tempme index` while serving
            self.on_new_files([path])
        return playable_file(path, self.remux_dir)

    def explain(self, hit: Hit) -> Path:
        """A PNG of how TempMe merged the tokens of `hit`'s segment (:mod:`tempme.explain`): its
        12 frames as the encoder sampled them, each merged token group a colour. Made with the
        library's encoder on first use and cached (by file, span and encoder) in
        :attr:`explain_dir`.

        Raises InputError for a missing or empty library, a hit whose video or segment is no
        longer in the library, or a file that cannot be decoded."""
        from tempme.explain import explain_clip, render_moment
        from tempme.video import VideoDecodeError
        from tempme.weights import WeightsUnavailableError

        lib = self._searchable()
        path = Path(hit.path)
        try:
            row = lib.segment(int(hit.segment_id))
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"This moment of {path.name} is no longer in the library (re-indexed or removed)."
            ) from None
        if not lib.is_library_file(row.path):
            raise InputError(f"{row.path.name} is not (or no longer) in the library.")
        stamp = row.path.stat()
        key = json.dumps(
            [str(row.path), stamp.st_size, stamp.st_mtime_ns, row.start_s, row.end_s, lib.encoder_info()],
            sort_keys=True,
            default=str,
        )
        out = self.explain_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.png"
        if out.is_file():
            return out
        try:
            moment = explain_clip(lib.encoder(), row.path, row.start_s, row.end_s)
        except (LibraryError, WeightsUnavailableError, VideoDecodeError, ValueError) as e:
            raise InputError(f"Cannot explain this moment: {e}") from None
        self.explain_dir.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        render_moment(moment).save(tmp, format="PNG")
        os.replace(tmp, out)
        return out

    @functools.cached_property
    def explain_dir(self) -> Path:
        """Where :meth:`explain` keeps its pictures: a private folder of this process under the
        system temp folder (which Gradio accepts as an output location), made on first use with
        an unguessable name and removed at exit, so no other user can plant or read a picture and
        nothing accumulates across runs."""
        path = Path(tempfile.mkdtemp(prefix="tempme-explain-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        return path

    def video_paths(self) -> list[Path]:
        """Every indexed video of the library."""
        return self.library().video_paths()

    def media_paths(self) -> list[Path]:
        """Every file the page may serve: the library's videos and its thumbnail folder
        (videos indexed later are added as they are played or added from the page)."""
        try:
            videos = self.video_paths()
        except InputError:
            videos = []
        return [*videos, self.thumbnail_dir]

    # -- adding videos ----------------------------------------------------------------------

    def _no_encoder(self) -> InputError:
        return InputError(
            f"The library at {self.library_dir} has no encoder yet: choose one under *Start the "
            f"library* (in Add videos), or run "
            f"`tempme --library {self.library_dir} index VIDEO_DIR --model ... --pretrained ...`."
        )

    def _index(self, paths: list[Path], progress: ProgressFn | None, encoder: EncoderSpec | None = None) -> AddResult:
        """Index ``paths`` with the library's encoder or, for a library without one, with
        ``encoder`` (recorded by the first add, as ``tempme index --model ...`` records it)."""
        lib = self.library(create=encoder is not None)
        spec = {}
        if lib.encoder_info() is None:
            if encoder is None:
                raise self._no_encoder()
            spec = dict(model=encoder.model, pretrained=encoder.pretrained, adapter=encoder.adapter)
        before = set(lib.video_paths())
        try:  # the library's own encoder; the write lock is held for this run only
            report = lib.add(paths, progress=progress, wait=5.0, **spec)
        except LibraryBusyError:
            raise InputError("Another tempme process is indexing this library; try again when it is done.") from None
        except (LibraryError, FileNotFoundError) as e:
            raise InputError(str(e)) from None
        except Exception as e:  # weights that do not load, an adapter that does not fit (first run)
            if not spec:
                raise
            logger.info("first-run encoder refused: %s", e)
            raise InputError(f"Cannot load {encoder.model} with weights {Path(encoder.pretrained).name}: {e}") from None
        added = [p for p in lib.video_paths() if is_under(p, paths)]
        if self.on_new_files is not None and added:
            self.on_new_files(added)
        self.last_add = summarize_report(report)
        logger.info("page add: %s", report.summary())
        return AddResult(self.last_add, tuple(p for p in added if p not in before))

    def add_files(self, files: Iterable[str | Path] | None, progress: ProgressFn | None = None) -> str:
        """`upload`'s summary (the API's ``/add``)."""
        return self.upload(files, progress).summary

    def upload(
        self, files: Iterable[str | Path] | None, progress: ProgressFn | None = None, encoder: EncoderSpec | None = None
    ) -> AddResult:
        """Index uploaded files: each is checked (`check_upload`), refused when the library already
        holds the same bytes (content hash), copied into ``LIBRARY/uploads/`` under its own name
        (``clip-2.mp4`` when ``clip.mp4`` is taken; Gradio's uploads are temporary) and indexed.

        ``encoder``: for a library that does not exist yet or has no encoder (the page's first
        run; see `encoder_choice`); ignored once the library has one.

        Returns the run's summary and the videos it added. Raises InputError when nothing was
        uploaded or no file is a readable video (with every file's reason), or when the library
        has no encoder and none is given; files that pass are indexed even when others are
        rejected, and the rejections are appended to the summary. When indexing fails, the
        copies made for it are deleted again.
        """
        if isinstance(files, (str, Path)):
            files = [files]
        if files is not None and not isinstance(files, (list, tuple)):
            raise InputError(f"Expected a list of uploaded files, got {type(files).__name__}.")
        if any(f and not isinstance(f, (str, Path)) for f in files or []):
            raise InputError("Expected a list of uploaded files (paths).")
        files = [Path(f) for f in (files or []) if f]
        if not files:
            raise InputError("Choose one or more video files to upload first.")
        check_upload_batch(files)
        # a missing library, or one without an encoder when none is chosen, is reported before anything is copied
        lib = self.library(create=encoder is not None)
        if lib.encoder_info() is None and encoder is None:
            raise self._no_encoder()
        accepted, rejected, seen = [], [], set()
        for f in files:
            try:
                f = check_upload(f)
            except InputError as e:
                rejected.append(str(e))
                continue
            digest = content_hash(f)
            copy = lib.path_with_hash(digest)
            if copy is not None or digest in seen:
                where = f"as {copy.name}" if copy is not None else "twice in this upload"
                rejected.append(f"{f.name}: already in the library ({where}).")
                continue
            seen.add(digest)
            accepted.append(f)
        if not accepted:
            raise InputError("Nothing was added. " + " ".join(rejected))
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        stored = []
        for f in accepted:
            dest = _free_name(self.uploads_dir, _safe_name(f.name))
            shutil.copyfile(f, dest)
            stored.append(dest.resolve())
        try:
            result = self._index(stored, progress, encoder)
        except InputError:
            for dest in stored:  # nothing indexed from them: no stray copies (and no "clip-2.mp4" next time)
                if not lib.is_library_file(dest):
                    dest.unlink(missing_ok=True)
            raise
        if rejected:
            result = replace(result, summary=result.summary + " Not added: " + " ".join(rejected))
        return result

    def new_moments(self, videos: Iterable[str | Path]) -> list[Hit]:
        """The moments of ``videos`` (e.g. just added), each video's first `NEW_VIDEO_MOMENTS`
        in time order, with thumbnails; only indexed library videos are shown."""
        lib = self.library()
        return self._with_thumbnails(lib, lib.video_moments([Path(v) for v in videos], NEW_VIDEO_MOMENTS))

    def add_folder(
        self, folder: str | None, progress: ProgressFn | None = None, encoder: EncoderSpec | None = None
    ) -> str:
        """Index a folder on the server (recursively), when the server was started with
        ``--allow-folder-add`` (``encoder``: as for `upload`). Raises InputError otherwise, or
        for a path that is not a folder."""
        if not self.allow_folder_add:
            raise InputError("This server does not accept folder paths; start it with --allow-folder-add.")
        if folder is not None and not isinstance(folder, str):
            raise InputError(f"The folder must be a path (text), got {type(folder).__name__}.")
        text = (folder or "").strip()
        if not text or any(unicodedata.category(c) == "Cc" for c in text):
            raise InputError("Give the absolute path of a folder on the server.")
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise InputError(f"{text!r} is not an absolute path.")
        if not path.is_dir():
            raise InputError(f"{path} is not a folder on the server.")
        return self._index([path], progress, encoder).summary  # as given: links keep their names (index.files.walk)

    # -- status -----------------------------------------------------------------------------

    def interrupt(self) -> None:
        """Stop a running page add (see `Library.interrupt`); for the server's SIGTERM handler."""
        if self._library is not None:
            self._library.interrupt()

    def status(self) -> str:
        """One line: library size, encoder, index type, last indexing run and its failures."""
        try:
            lib = self.library()
        except InputError as e:
            return str(e)
        return format_stats(lib.stats(), self.last_add)


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem-2.ext``, ``-3`` ... when taken."""
    dest, n = folder / name, 1
    while dest.exists():
        n += 1
        dest = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
    return dest


def _safe_name(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return keep.strip("._") or "video"


def summarize_report(report: IndexReport) -> str:
    """An indexing run in plain words for the page: what was added, what was already there,
    what could not be read and why (the run's rates stay in the server log)."""
    text = f"Added {plural(report.indexed, 'video')} ({plural(report.segments, 'moment')}) in {report.seconds:.0f} s."
    if report.skipped:
        text += f" {report.skipped} {'was' if report.skipped == 1 else 'were'} already in the library."
    if report.errors:
        text += f" {len(report.errors)} could not be read: " + "; ".join(
            f"{Path(p).name}: {why}" for p, why in report.errors[:5]
        )
        if len(report.errors) > 5:
            text += f"; and {len(report.errors) - 5} more"
        text += "."
    return text


def format_stats(stats: LibraryStats, last_add: str | None = None) -> str:
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


def evidence_html(hit: Hit) -> str:
    """Why a hit matched, as HTML for the page: the utterance with the matched words in
    ``<mark>`` (each with its time), the on-screen line in ``<mark>``, the visual score."""
    from html import escape

    parts = []
    if hit.transcript:
        marked = {w.word.casefold() for w in hit.words}
        said = " ".join(
            f"<mark>{escape(t)}</mark>" if t.casefold() in marked else escape(t) for t in hit.transcript.split()
        )
        times = ", ".join(f"{escape(w.word)} {format_time(w.start_s)}" for w in hit.words)
        parts.append(f"🗣 “{said}”" + (f" <small>({times})</small>" if times else ""))
    if hit.ocr_text:
        parts.append(f"🔤 <mark>{escape(hit.ocr_text)}</mark>")
    if hit.visual_score is not None:
        parts.append(f"👁 {hit.visual_score:.3f}")
    return " · ".join(parts)
