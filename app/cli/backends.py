"""Where `tempme search` and `tempme shell` run a query: the two backends and how one is picked.

Two backends with one method, ``search(request: SearchRequest) -> list[Hit]``, and
``weights_note`` (the random-weights warning of the library searched, or None):

- :class:`~.remote.RemoteSearch`: the server's REST API (``POST /api/v1/search`` with plain
  httpx; the server advertises itself in the library folder, :mod:`app.advert`); no torch here,
  and no gradio_client; the weights warning comes with each answer. ``--api-key`` / ``$TEMPME_API_KEY`` for a server that asks for a key.
- :class:`LocalSearch`: :meth:`Library.search` here (the text tower loads on the first query).

:func:`open_search` picks one: the server when its advert is live, it needs no login (or it has
a key) and the query asks for nothing this client sends it (``--nprobe``: the server searches
with its own setting; an example, dates, a sort, a score cutoff, ``--then`` / ``--while``);
otherwise local, with a note on stderr saying why when a server was there but could not be
used. A server that stops answering is replaced by a local search (:class:`ServerFirst`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from tempme.app.advert import find_server
from tempme.app.cli.remote import NeedsKey, RemoteSearch, RemoteUnavailable
from tempme.app.cli.request import SearchError, SearchRequest
from tempme.index import Hit, LibraryError, printable, weights_warning

DEFAULT_NPROBE = None  # None: the library's tuned nprobe (tempme rebuild), else the settings' (as the server)


def query_errors() -> tuple[type[Exception], ...]:
    """What a local query's failure can be, each one line: LibraryError, ValueError, and
    ``tempme.weights.WeightsUnavailableError`` / ``tempme.video.VideoDecodeError`` once those
    modules are loaded (importing them here would load torch for every search)."""
    loaded = [sys.modules.get("tempme.weights"), sys.modules.get("tempme.video")]
    names = ("WeightsUnavailableError", "VideoDecodeError")
    return (LibraryError, ValueError) + tuple(getattr(m, n) for m, n in zip(loaded, names) if m is not None)


def note(text: str) -> None:
    """One ``note: ...`` line on stderr."""
    typer.echo(f"note: {text}", err=True)


class LocalSearch:
    """Searches with :class:`Library` in this process (model loaded on the first query, once)."""

    where = "this process"

    def __init__(self, library: Path, nprobe: int | None = DEFAULT_NPROBE) -> None:
        from tempme.index import IndexParams, Library

        try:
            self.lib = Library.open(library, index_params=IndexParams(nprobe=nprobe))  # missing: no torch
        except LibraryError as exc:
            raise SearchError(str(exc)) from None
        self.threads_set = False
        self.weights_note = weights_warning(self.lib.encoder_info())

    def threads(self, one_shot: bool = True) -> None:
        if not self.threads_set:  # once per process, from the settings (one query: one thread)
            from tempme.index import set_search_threads

            set_search_threads(one_shot=one_shot)
            self.threads_set = True

    def warm(self) -> None:
        """Load the encoder now (for the shell: the first query then costs what the others do)."""
        self.threads(one_shot=False)
        try:
            self.lib.warm_up()
        except query_errors() as exc:
            raise SearchError(printable(str(exc))) from None

    def search(self, request: SearchRequest) -> list[Hit]:
        self.threads()
        r = request
        try:
            return self.lib.search(r.query, r.k, per_video=r.per_video, mode=r.mode, filters=r.filters, sort=r.sort)
        except query_errors() as exc:
            clip = type(exc).__name__ == "VideoDecodeError"
            raise SearchError(("cannot read the clip: " if clip else "") + printable(str(exc))) from None

    def folders(self) -> list[Path]:
        return list(self.lib.stats().folders)


class ServerFirst:
    """The server while it answers; when it cannot be used (it needs a key this command does not
    have, or it does not answer), a note on stderr and a :class:`LocalSearch` from then on."""

    def __init__(self, remote: RemoteSearch, library: Path, nprobe: int | None) -> None:
        self.remote, self.library, self.nprobe, self.local = remote, library, nprobe, None

    @property
    def where(self) -> str:
        return self.local.where if self.local else self.remote.where

    @property
    def weights_note(self) -> str | None:
        return (self.local or self.remote).weights_note

    def warm(self) -> None:
        (self.local or self.remote).warm()

    def search(self, request: SearchRequest) -> list[Hit]:
        if self.local is None:
            try:
                return self.remote.search(request)
            except RemoteUnavailable as exc:
                why = str(exc) if isinstance(exc, NeedsKey) else f"did not answer ({exc})"
                note(f"the server at {self.remote.where} {why}; searching here instead (loading the model)")
                self.local = LocalSearch(self.library, self.nprobe)
        return self.local.search(request)

    def folders(self) -> list[Path]:
        return (self.local or self.remote).folders()


def open_search(
    library: Path, *, nprobe: int | None = DEFAULT_NPROBE, per_video: bool = False, use_server: bool = True,
    api_key: str | None = None, text_only: bool = True,
) -> LocalSearch | ServerFirst:  # fmt: skip
    """The backend for `library`: its running server when usable (``text_only``: the queries
    are ones it answers), else a :class:`LocalSearch`.

    Raises:
        SearchError: no library at `library` (local backend).
    """
    advert = find_server(library) if use_server else None
    if advert is not None:
        if advert.auth and not api_key:
            note(
                f"the server at {advert.url} asks for a login or an API key (--api-key or $TEMPME_API_KEY); "
                "searching here instead (loading the model)"
            )
        elif nprobe is not None:
            note(f"the server at {advert.url} searches with its own nprobe (the library's tuned one, else its"
                 f" settings'), not --nprobe {nprobe}; searching here instead")  # fmt: skip
        elif not text_only:
            note(f"the server at {advert.url} does not take examples, dates, sorts, --then / --while; searching here")
        else:
            return ServerFirst(RemoteSearch(advert, api_key), library, nprobe)
    return LocalSearch(library, nprobe)
