"""The two backends of `tempme search` / `tempme shell`, one method each,
``search(query, k, per_video=, mode=, folder=) -> list[Hit]`` and ``weights_note`` (the
random-weights warning of the library searched, or None):

- :class:`~.remote.RemoteSearch`: the server's REST API (``POST /api/v1/search`` with plain httpx; the
  server advertises itself in the library folder, :mod:`app.advert`); no torch here, and no
  gradio_client. The weights warning comes with each answer (``weights_warning``).
- :class:`LocalSearch`: :meth:`Library.search` here (the text tower loads on the first query).

:func:`open_search` picks one (:class:`ServerFirst`: the server, then local when it stops answering).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from tempme.app.advert import find_server
from tempme.app.cli.remote import NeedsKey, RemoteSearch, RemoteUnavailable, SearchError  # noqa: F401 (re-exported)
from tempme.index import Hit, LibraryError, printable, weights_warning

if TYPE_CHECKING:  # the query room imports SQLAlchemy and FAISS: not on the server path
    from tempme.index import CompoundQuery

log = logging.getLogger(__name__)

DEFAULT_NPROBE = None  # None: the library's tuned nprobe (tempme rebuild), else the settings' (as the server)


def query_errors() -> tuple[type[Exception], ...]:
    """What a local query's failure can be, each one line: LibraryError, ValueError, and
    ``tempme.weights.WeightsUnavailableError`` once that module is loaded (only the torch text
    path loads it: importing it here would load torch for every search, ~9 s of a speech search)."""
    weights = sys.modules.get("tempme.weights")
    return (LibraryError, ValueError) + ((weights.WeightsUnavailableError,) if weights is not None else ())


class LocalSearch:
    """Searches with :class:`Library` in this process (model loaded on the first query, once)."""

    where = "this process"

    def __init__(self, library: Path, nprobe: int | None = DEFAULT_NPROBE) -> None:
        from tempme.index import IndexParams, Library

        try:
            self.lib = Library.open(library, index_params=IndexParams(nprobe=nprobe))  # missing: no torch
        except LibraryError as exc:
            raise SearchError(str(exc)) from None
        self._threads_set = False
        self.weights_note = weights_warning(self.lib.encoder_info())

    def _threads(self, one_shot: bool = True) -> None:
        if not self._threads_set:  # once per process, from the settings (one query: one thread)
            from tempme.index import set_search_threads

            set_search_threads(one_shot=one_shot)
            self._threads_set = True

    def warm(self) -> None:
        """Load the text tower now (for the shell: the first query then costs what the others do)."""
        self._threads(one_shot=False)
        try:
            self.lib.warm_up()
        except query_errors() as exc:
            raise SearchError(printable(str(exc))) from None

    def search(
        self,
        query: str | CompoundQuery,
        k: int,
        *,
        per_video: bool = False,
        mode: str = "all",
        folder: Path | None = None,
    ) -> list[Hit]:
        from tempme.index import SearchFilters

        self._threads()
        try:
            return self.lib.search(
                query, k, per_video=per_video, mode=mode, filters=SearchFilters(folder=str(folder)) if folder else None
            )
        except query_errors() as exc:
            raise SearchError(printable(str(exc))) from None


def _note(text: str) -> None:
    typer.echo(f"note: {text}", err=True)


class ServerFirst:
    """The server while it answers; when it cannot be used (it needs a key this command does not
    have, or it does not answer), a note on stderr and a :class:`LocalSearch` from then on."""

    def __init__(self, remote: RemoteSearch, library: Path, nprobe: int) -> None:
        self.remote, self.library, self.nprobe, self.local = remote, library, nprobe, None

    @property
    def where(self) -> str:
        return self.local.where if self.local else self.remote.where

    @property
    def weights_note(self) -> str | None:
        return (self.local or self.remote).weights_note

    def warm(self) -> None:
        (self.local or self.remote).warm()

    def search(self, query: str, k: int, **how) -> list[Hit]:
        if self.local is None:
            try:
                return self.remote.search(query, k, **how)
            except RemoteUnavailable as exc:
                why = str(exc) if isinstance(exc, NeedsKey) else f"did not answer ({exc})"
                _note(f"the server at {self.remote.where} {why}; searching here instead (loading the model)")
                self.local = LocalSearch(self.library, self.nprobe)
        return self.local.search(query, k, **how)


def open_search(
    library: Path,
    *,
    nprobe: int | None = DEFAULT_NPROBE,
    per_video: bool = False,
    use_server: bool = True,
    api_key: str | None = None,
    compound: bool = False,
) -> LocalSearch | RemoteSearch:
    """The backend for `library`: its running server when usable, else a :class:`LocalSearch`
    (``per_video`` goes through the server; ``compound``, a --then / --while query, does not).

    Raises:
        SearchError: no library at `library` (local backend).
    """
    advert = find_server(library) if use_server else None
    if advert is not None:
        if advert.auth and not api_key:
            _note(
                f"the server at {advert.url} asks for a login or an API key (--api-key or $TEMPME_API_KEY); "
                "searching here instead (loading the model)"
            )
        elif nprobe is not None:
            _note(f"the server at {advert.url} searches with its own nprobe (the library's tuned one, else its"
                  f" settings'), not --nprobe {nprobe}; searching here instead")  # fmt: skip
        elif compound:
            _note(f"the server at {advert.url} does not take --then / --while (not in its API); searching here instead")
        else:
            return ServerFirst(RemoteSearch(advert, api_key), library, nprobe)
    return LocalSearch(library, nprobe)
