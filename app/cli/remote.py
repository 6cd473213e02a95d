"""The client of a running `tempme serve` for `tempme search` / `tempme shell`: its REST API
(``POST /api/v1/search``) with plain httpx, no torch and no gradio_client in this process.
`tempme.app.cli.backends` picks it (or a local search) and falls back when it cannot be used."""

from __future__ import annotations

from pathlib import Path

from tempme.app.advert import ServerAdvert
from tempme.app.cli.request import SearchError, SearchRequest
from tempme.index import Hit, path_text

REMOTE_TIMEOUT_S = 60.0  # per request to the server (a search waits behind at most a few others)
__all__ = ["REMOTE_TIMEOUT_S", "NeedsKey", "RemoteSearch", "RemoteUnavailable", "SearchError"]


class RemoteUnavailable(Exception):
    """The advertised server could not be reached or did not answer as `tempme serve` does."""


class NeedsKey(RemoteUnavailable):
    """The server asks for an API key that this command was not given (or that it refused)."""


class RemoteSearch:
    """Searches through a running `tempme serve`: ``POST /api/v1/search`` with plain httpx (no
    model here; ``api_key``: sent as ``Authorization: Bearer``).

    Raises (search): NeedsKey (401), RemoteUnavailable (no answer, or not tempme's API),
    SearchError (the server's one-line reason for a bad query, or a query it does not take)."""

    def __init__(self, advert: ServerAdvert, api_key: str | None = None, timeout_s: float = REMOTE_TIMEOUT_S) -> None:
        import httpx

        self.where = advert.url
        base = advert.api or advert.url.rstrip("/") + "/api/v1"  # an advert written before the API: try it
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # plain HTTP (the advert of a local server): no TLS, so no CA bundle to load (~30 ms of CPU
        # per `tempme search` process); an https:// server is verified as usual
        verify = not base.startswith("http://")
        self.client = httpx.Client(base_url=base, headers=headers, timeout=timeout_s, verify=verify)
        self.weights_note: str | None = None  # the server's word on its weights, from each answer

    def warm(self) -> None:
        pass  # the server's model is loaded

    def search(self, request: SearchRequest) -> list[Hit]:
        import httpx

        r = request
        if not r.text_only:
            raise SearchError("examples, dates, sorts, --then and --while are not available through the server")
        body = {"query": r.query.text, "k": r.k, "mode": r.mode, "per_video": r.per_video}
        body |= {"folder": path_text(r.filters.folder)} if r.filters.folder else {}  # issue 22: one spelling
        try:
            answer = self.client.post("/search", json=body)
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"{type(exc).__name__}: {exc}") from None
        if answer.status_code == 401:
            raise NeedsKey("needs an API key (--api-key or $TEMPME_API_KEY)")
        if answer.status_code in (400, 404, 422) and answer.headers.get("content-type", "").startswith(
            "application/problem"
        ):
            raise SearchError(str(answer.json().get("detail", "")))
        try:
            answer.raise_for_status()
            payload = answer.json()
            hits = [Hit.from_dict(h) for h in payload["hits"]]
        except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
            raise RemoteUnavailable(f"unexpected answer from {self.where}: {exc}") from None
        self.weights_note = payload.get("weights_warning")  # the API's random-weights warning (issue 24)
        return hits

    def folders(self) -> list[Path]:
        return []  # the server's page offers its folders
