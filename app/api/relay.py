"""Replicas: the page lives in one process; the other workers relay its requests there.

Gradio's page keeps per-browser state in its process (the queue's event streams, ``gr.State``,
its login tokens), so the page cannot be answered by whichever of N processes accepts a
connection. With ``tempme serve --workers N`` every process answers the REST API itself
(stateless: jobs and keys are in the catalog, file links are signed with the library's secret),
and every request for the page (anything outside ``/api/``, ``/docs``) that lands on a worker
is relayed, streamed both ways, to the page process over a private Unix socket. The browser
sees one server; no sticky sessions are needed in front.
"""

from __future__ import annotations

import logging

import httpx

logger = logging.getLogger(__name__)

HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"te", b"trailer", b"proxy-connection"}


class Relay:
    """An ASGI app that forwards each HTTP request to the server on Unix socket ``uds``."""

    def __init__(self, uds: str) -> None:
        transport = httpx.AsyncHTTPTransport(uds=uds)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://page", timeout=None)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] != "http":  # the page uses HTTP and server-sent events only
            await send({"type": "websocket.close", "code": 1003})
            return

        async def body():
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return
                yield message.get("body", b"")
                if not message.get("more_body"):
                    return

        target = scope["raw_path"].decode("latin-1") + ("?" + scope["query_string"].decode("latin-1") if scope[
            "query_string"] else "")  # fmt: skip
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        request = self.client.build_request(scope["method"], target, headers=headers, content=body())
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            logger.warning("the page process did not answer: %s", exc)
            await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"The page process is not answering."})
            return
        try:
            raw = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": raw})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
