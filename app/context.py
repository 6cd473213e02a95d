"""The service layer over one library: search, play, explain, add, status, as plain functions.

The Gradio page (`tempme.app.web`) and the REST API (`tempme.app.api`) call `AppContext`; it
takes and returns plain Python values, so it is unit-tested without a server or a browser. Every problem a person can cause (see `app.validate`; also a missing or empty
library, a folder the server does not allow) raises `InputError`, whose message is shown as is.

Results are the library's own `Hit`s (with their thumbnail filled in) and filters its own
`SearchFilters`; text -> vector (micro-batched, cached) is the library's query encoder.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from tempme.app.explain_cache import explain_picture, private_folder
from tempme.app.first_run import encoder_choice, no_encoder, start_message
from tempme.app.searching import SearchService
from tempme.app.status import format_stats, format_summary, front_info, summarize_report
from tempme.app.uploads import remove_unindexed, stage_uploads, uploaded_paths
from tempme.app.validate import (
    BusyError,
    InputError,
    clean_server_folder,
    weight_choices,
)
from tempme.index import (
    EncoderSpec,
    Hit,
    Library,
    LibraryBusyError,
    LibraryError,
    NotServableError,
    ProgressFn,
    expand_home,
    is_under,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AddResult:
    """What one add did: its summary in plain words and the videos it indexed."""

    summary: str
    videos: tuple[Path, ...] = ()


class AppContext(SearchService):
    """The served library and what its front ends share.

    One `Library`, opened on first use (a page may be started before the library exists).
    Searches run concurrently on it; adding videos takes the library's write lock for the run
    (``Library.add``), and searches keep going meanwhile and see each video as it is committed.

    Args:
        library_dir: the library directory (`tempme --library DIR serve`).
        allow_folder_add: accept a server folder path in `add_folder` (off by default: it lets a
            page user make the server read any folder it can).
        remux_dir: where browser-playable copies of AVI/MKV videos go (served by the page; `tempme
            serve` passes Gradio's private folder). Default: a ``tempme-remux`` temporary folder.
    """

    def __init__(
        self,
        library_dir: str | Path,
        *,
        allow_folder_add: bool = False,
        remux_dir: str | Path | None = None,
    ) -> None:
        self.library_dir = expand_home(library_dir).resolve()
        self.allow_folder_add = allow_folder_add
        self.remux_dir = Path(remux_dir) if remux_dir is not None else Path(tempfile.gettempdir()) / "tempme-remux"
        self._open_lock = threading.Lock()
        self._library: Library | None = None
        self.last_add: str | None = None
        self.warmed_up, self.warm_up_error = False, None  # set by warm_up (the server's start)
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
        return start_message(self.library_dir, self._library is not None)  # no lock: library() holds it

    def weight_choices(self, arch: str, downloaded: bool = True) -> list[tuple[str, str]]:
        """(label, value) of the weights the page offers for a new library (:func:`.validate.weight_choices`)."""
        return weight_choices(arch, downloaded)

    def encoder_choice(
        self, arch: str | None, weights: str | None, weights_file: str | None, adapter: str | None, confirmed: bool
    ) -> EncoderSpec:
        """Check the page's first-run encoder choice (:func:`.first_run.encoder_choice`)."""
        return encoder_choice(arch, weights, weights_file, adapter, confirmed)

    # -- search: app.searching (SearchService) --------------------------------------------

    def playable(self, video_id: int, *, browser: bool = True) -> Path:
        """The file to send for video ``video_id``: only a video the library may serve now
        (``Library.shelf.servable_video``: in the catalog, a regular file, the file that was indexed);
        with ``browser``, a browser-playable copy for AVI/MKV (`app.media`).

        Raises InputError otherwise (the reason in words)."""
        from tempme.app.media import playable_file

        try:
            path = self.library().shelf.servable_video(int(video_id))
        except NotServableError as e:
            raise InputError(str(e)) from None
        return playable_file(path, self.remux_dir) if browser else path

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
        """Where :meth:`explain` keeps its pictures (:func:`.explain_cache.private_folder`: this process's, removed at exit)."""
        return private_folder()

    def video_paths(self) -> list[Path]:
        """Every indexed video of the library."""
        return self.library().shelf.video_paths()

    # -- adding videos ----------------------------------------------------------------------

    def _index(
        self, paths: list[Path], progress: ProgressFn | None, encoder: EncoderSpec | None = None, wait: float = 5.0
    ) -> AddResult:
        """Index ``paths`` with the library's encoder or, for a library without one, with
        ``encoder`` (recorded by the first add, as ``tempme index --model ...`` records it)."""
        lib = self.library(create=encoder is not None)
        spec = {}
        if lib.encoder_info() is None:
            if encoder is None:
                raise no_encoder(self.library_dir)
            spec = dict(model=encoder.model, pretrained=encoder.pretrained, adapter=encoder.adapter)
        before = set(lib.shelf.video_paths())
        try:  # the library's own encoder; the write lock is held for this run only
            report = lib.add(paths, progress=progress, wait=wait, **spec)
        except LibraryBusyError:
            raise BusyError("Another tempme process is indexing this library; try again when it is done.") from None
        except (LibraryError, FileNotFoundError) as e:
            raise InputError(str(e)) from None
        except Exception as e:  # weights that do not load, an adapter that does not fit (first run)
            if not spec:
                raise
            logger.info("first-run encoder refused: %s", e)
            raise InputError(f"Cannot load {encoder.model} with weights {Path(encoder.pretrained).name}: {e}") from None
        added = [p for p in lib.shelf.video_paths() if is_under(p, paths)]
        self.last_add = summarize_report(report)
        logger.info("page add: %s", report.summary())
        return AddResult(self.last_add, tuple(p for p in added if p not in before))

    def add_files(self, files: Iterable[str | Path] | None, progress: ProgressFn | None = None) -> str:
        """`upload`'s summary (gradio_client's ``/add``)."""
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
            raise no_encoder(self.library_dir)
        staged = stage_uploads(files, self.uploads_dir, lib.shelf.path_with_hash)
        try:
            result = self._index(staged.stored, progress, encoder)
        except InputError:
            remove_unindexed(staged.stored, lib.shelf.is_library_file)
            raise
        if staged.rejected:
            result = replace(result, summary=result.summary + " Not added: " + " ".join(staged.rejected))
        return result

    def add_folder(
        self, folder: str | None, progress: ProgressFn | None = None, encoder: EncoderSpec | None = None
    ) -> str:
        """Index a folder on the server (recursively), when the server was started with
        ``--allow-folder-add`` (``encoder``: as for `upload`). Raises InputError otherwise, or
        for a path that is not a folder (`server_folder`)."""
        return self._index([self.server_folder(folder)], progress, encoder).summary

    def server_folder(self, folder: str | None) -> Path:
        """The folder a person asked to index, checked (`app.validate.clean_server_folder`)."""
        return clean_server_folder(folder, self.allow_folder_add)

    def stage_upload(self, files: Iterable[str | Path] | None) -> list[Path]:
        """Check uploaded files and copy those that pass into ``LIBRARY/uploads/`` (as `upload`
        does) without indexing them yet: the API indexes them in a job (`index_files`).
        Returns the copies. Raises InputError when nothing passes (every reason said), or the
        library is missing or has no encoder."""
        files = uploaded_paths(files)
        lib = self.library()
        if lib.encoder_info() is None:
            raise no_encoder(self.library_dir)
        staged = stage_uploads(files, self.uploads_dir, lib.shelf.path_with_hash)
        if staged.rejected:
            logger.info("upload: not added: %s", " ".join(staged.rejected))
        return staged.stored

    def index_files(self, paths: list[Path], progress: ProgressFn | None = None, wait: float = 5.0) -> AddResult:
        """Index ``paths`` (staged uploads, a checked server folder), waiting up to ``wait`` s for another indexer."""
        return self._index(paths, progress, None, wait=wait)

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
            self.warm_up_error = str(exc)
            logger.info("model not loaded at start: %s", exc)
        finally:
            self.warmed_up, self.loading = True, False

    def model_loaded(self) -> bool:
        """True once the library's encoder is loaded (a torch text tower: queries answer without waiting)."""
        return self._library is not None and self._library.model_loaded

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
