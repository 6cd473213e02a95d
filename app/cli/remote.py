"""The client of a running `tempme serve` for `tempme search` / `tempme shell`: its REST API
(``POST /api/v1/search``) with plain httpx, no torch and no gradio_client in this process.
`tempme.app.cli.search` picks it (or a local search) and falls back when it cannot be used."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tempme.app.advert import ServerAdvert
from tempme.index import Hit, path_text

if TYPE_CHECKING:  # the query room imports SQLAlchemy and FAISS: not on the server path
    from tempme.index import CompoundQuery

REMOTE_TIMEOUT_S = 60.0  # per request to the server (a search waits behind at most a few others)


class SearchError(Exception):
    """A query that could not be answered; the message says why (shown as ``error: ...``)."""


class RemoteUnavailable(Exception):
    """The advertised server could not be reached or did not answer as `tempme serve` does."""


class NeedsKey(RemoteUnavailable):
    """The server asks for an API key that this command was not given (or that it refused)."""


class RemoteSearch:
    """Searches through a running `tempme serve`: ``POST /api/v1/search`` with plain httpx (no
    model here; ``api_key``: sent as ``Authorization: Bearer``).

    Raises (search): NeedsKey (401), RemoteUnavailable (no answer, or not tempme's API),
    SearchError (the server's one-line reason for a bad query)."""

    def __init__(self, advert: ServerAdvert, api_key: str | None = None, timeout_s: float = REMOTE_TIMEOUT_S) -> None:
        import httpx

        self.where = advert.url
        base = advert.api or advert.url.rstrip("/") + "/api/v1"  # an advert written before the API: try it
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=base, headers=headers, timeout=timeout_s)
        self.weights_note: str | None = None  # the server's word on its weights, from each answer

    def warm(self) -> None:
        pass  # the server's model is loaded

    def search(
        self,
        query: str | CompoundQuery,
        k: int,
        *,
        per_video: bool = False,
        mode: str = "all",
        folder: Path | None = None,
    ) -> list[Hit]:
        import httpx

        if not isinstance(query, str):  # a CompoundQuery
            raise SearchError("--then and --while are not available through the server")
        body = {
            "query": query,
            "k": k,
            "mode": mode,
            "per_video": per_video,
            **({"folder": path_text(folder)} if folder else {}),
        }
        try:
            r = self.client.post("/search", json=body)
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"{type(exc).__name__}: {exc}") from None
        if r.status_code == 401:
            raise NeedsKey("needs an API key (--api-key or $TEMPME_API_KEY)")
        if r.status_code in (400, 404, 422) and r.headers.get("content-type", "").startswith("application/problem"):
            raise SearchError(str(r.json().get("detail", "")))
        try:
            r.raise_for_status()
            answer = r.json()
            hits = [Hit.from_dict(h) for h in answer["hits"]]
        except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
            raise RemoteUnavailable(f"unexpected answer from {self.where}: {exc}") from None
        self.weights_note = answer.get("weights_warning")  # the API's random-weights warning (issue 24)
        return hits
