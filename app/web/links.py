"""Where the page's browser fetches pictures and videos: the API's signed file links
(:class:`Links`) and the page's own URL (:func:`root_url`)."""

from __future__ import annotations

from typing import Protocol

import gradio as gr


class Links(Protocol):
    """Where the page's pictures and videos are fetched from: the API's file routes, as signed
    links relative to the page (``api/v1/moments/17/thumbnail?exp=...&sig=...``), so that a
    browser logged in to the page may load them (`tempme.app.api.keys.Signer`)."""

    def thumbnail(self, segment_id: int) -> str: ...

    def stream(self, video_id: int) -> str: ...


def root_url(request: gr.Request | None) -> str:
    """The page's public URL (``http://host:port/``, behind a proxy its forwarded host), from the
    request of the event."""
    from gradio.route_utils import get_root_url

    req = getattr(request, "request", None)
    if req is None:
        return ""
    return get_root_url(req, route_path=req.url.path, root_path=None) + "/"
