"""The service layer over one library: search, play, explain, add, status, as plain functions.

The Gradio page (`tempme.app.web`) and any other front end (a REST API) call `AppContext`; it
takes and returns plain Python values (no Gradio types), so it is unit-tested without a server
or a browser. Every problem a person can cause (see `app.validate`; also a missing or empty
library, a folder the server does not allow) raises `InputError`, whose message is shown as is.

Results are the library's own `Hit`s (with their thumbnail filled in) and filters its own
`SearchFilters`; text -> vector (micro-batched, cached) is the library's query encoder.
"""

from __future__ import annotations

import atexit
import functools
import logging
import shutil
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from tempme.app.explain_cache import explain_picture
from tempme.app.status import format_stats, format_summary, front_info, summarize_report
from tempme.app.uploads import remove_unindexed, stage_uploads, uploaded_paths
from tempme.app.validate import InputError, clean_encoder_choice, clean_k, clean_query, weight_choices
from tempme.index import (
    SEARCH_MODES,
    CompoundQuery,
    EncoderSpec,
    Hit,
    Library,
    LibraryBusyError,
    LibraryError,
    ProgressFn,
    SearchFilters,
    is_under,
)

logger = logging.getLogger(__name__)

ARCHITECTURES = ("ViT-B-32", "ViT-B-16", "tempme-tiny")
"""Models the page offers for a new library (tempme.weights.SUPPORTED_ARCHS, without importing torch)."""
NEW_VIDEO_MOMENTS = 12
"""Moments shown per video by "Show new videos"."""


@dataclass(frozen=True)
class AddResult:
    """What one add did: its summary in plain words and the videos it indexed."""

    summary: str
    videos: tuple[Path, ...] = ()


class AppContext:
    """The served library and what its front ends share.

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
        self.loading = False  # the model is being loaded (`warm_up`): the status line says so

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

    def weight_choices(self, arch: str, downloaded: bool = True) -> list[tuple[str, str]]:
        """(label, value) of the weights the page offers for a new library (:func:`.validate.weight_choices`)."""
        return weight_choices(arch, downloaded)

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
            raise InputError(self.start_message())
        return lib

    def _in_library(self, filters: SearchFilters) -> SearchFilters:
        """A relative folder filter ("uploads") means a folder of the library."""
        if filters.folder and not Path(filters.folder).expanduser().is_absolute():
            return replace(filters, folder=str(self.library_dir / filters.folder))
        return filters

    def search(
        self,
        query: str,
        k: int,
        filters: SearchFilters = SearchFilters(),
        offset: int = 0,
        mode: str = "all",
        compound: CompoundQuery | None = None,
        per_video: bool = False,
    ) -> list[Hit]:
        """Text search: the `k` best moments after the first `offset` (ranks offset+1...);
        ``mode``: all (fused), visual, speech or text (see ``Library.search``); ``compound``:
        search that "then / while" query instead (``app.exports.compound_query``);
        ``per_video``: each video's best moment only.

        Raises InputError for a bad query, K or mode, a missing or empty library, or a speech /
        text search on a library without transcripts / on-screen text."""
        query, k = clean_query(query), clean_k(k)
        if mode not in SEARCH_MODES:
            raise InputError(f"Search mode must be one of {', '.join(SEARCH_MODES)}, not {mode!r}.")
        lib = self._searchable()
        filters = self._in_library(filters)
        try:
            hits = lib.search(compound or query, k, offset=offset, filters=filters, mode=mode, per_video=per_video)
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

    def new_moments(self, videos: Iterable[str | Path]) -> list[Hit]:
        """The moments of ``videos`` (e.g. just added), each video's first `NEW_VIDEO_MOMENTS`
        in time order, with thumbnails; only indexed library videos are shown."""
        lib = self.library()
        return self._with_thumbnails(lib, lib.video_moments([Path(v) for v in videos], NEW_VIDEO_MOMENTS))

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
        :attr:`explain_dir` (`app.explain_cache`).

        Raises InputError for a missing or empty library, a hit whose video or segment is no
        longer in the library, or a file that cannot be decoded."""
        return explain_picture(self._searchable(), hit.segment_id, Path(hit.path).name, self.explain_dir)

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
        """Index uploaded files: each is checked and copied into ``LIBRARY/uploads/``
        (`app.uploads.stage_uploads`: refused when the library already holds the same bytes) and
        indexed.

        ``encoder``: for a library that does not exist yet or has no encoder (the page's first
        run; see `encoder_choice`); ignored once the library has one.

        Returns the run's summary and the videos it added. Raises InputError when nothing was
        uploaded or no file is a readable video (with every file's reason), or when the library
        has no encoder and none is given; files that pass are indexed even when others are
        rejected, and the rejections are appended to the summary. When indexing fails, the
        copies made for it are deleted again.
        """
        files = uploaded_paths(files)
        # a missing library, or one without an encoder when none is chosen, is reported before anything is copied
        lib = self.library(create=encoder is not None)
        if lib.encoder_info() is None and encoder is None:
            raise self._no_encoder()
        staged = stage_uploads(files, self.uploads_dir, lib.path_with_hash)
        try:
            result = self._index(staged.stored, progress, encoder)
        except InputError:
            remove_unindexed(staged.stored, lib.is_library_file)
            raise
        if staged.rejected:
            result = replace(result, summary=result.summary + " Not added: " + " ".join(staged.rejected))
        return result

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

    # -- the server -------------------------------------------------------------------------

    def interrupt(self) -> None:
        """Stop a running page add (see `Library.interrupt`); for the server's SIGTERM handler."""
        if self._library is not None:
            self._library.interrupt()

    def warm_up(self) -> None:
        """Load the text tower now, so that the first search (page or CLI) does not wait for it;
        ``loading`` is True meanwhile (`tempme serve` runs this after it listens)."""
        self.loading = True
        try:
            self.library().warm_up()
        except Exception as exc:  # no library yet, weights unavailable: the first search says so
            logger.info("model not loaded at start: %s", exc)
        finally:
            self.loading = False

    def text_ready(self) -> bool:
        """True when text searches are answered without waiting for a torch model: the library's
        query model is fresh, or a text tower is loaded (``Library.text_ready``). What a server
        can report as ready while its torch model (image queries, explain) still loads."""
        try:
            return self.library().text_ready()
        except InputError:
            return False

    def info(self) -> dict:
        """What front ends say beside results (:func:`.status.front_info`; the API's ``/info``)."""
        try:
            return front_info(self.library().stats())
        except InputError:
            return front_info(None)

    def status(self) -> str:
        """One line: library size, encoder, index type, last indexing run and its failures (the
        API's ``/status``; how to start a missing library is the page's message, not this)."""
        return self.status_lines()[1]

    def status_lines(self) -> tuple[str, str]:
        """(the status in one short line, all of it), Markdown, for the page's collapsed status."""
        try:
            lib = self.library()
        except InputError:
            return f"No library at {self.library_dir} yet", f"No library at {self.library_dir} yet."
        stats = lib.stats()
        meanwhile = "text searches answer meanwhile" if lib.text_ready() else "searches wait for it"
        loading = f"Loading the model… ({meanwhile}). " if self.loading else ""
        return loading + format_summary(stats), loading + format_stats(stats, self.last_add)
