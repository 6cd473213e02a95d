"""The page's API for gradio_client, typed by the signatures below.

``/search`` (query, k, folder, min_duration_s, max_duration_s, extensions, mode, per_video, after,
before, sort, offset) -> list of hit dicts; ``/search_example`` (example file, request dict) ->
list of hit dicts (an image or a video clip, issue 27); ``/similar`` (segment_id, k) -> list of
hit dicts; ``/add`` (files) -> summary text; ``/add_folder`` (path) when the server allows it;
``/status`` -> the status line; ``/info`` -> the library's weights (random weights said) and
search modes. A person's mistake (`InputError`) becomes ``gr.Error`` with its message.
"""

from __future__ import annotations

import gradio as gr
from tempme.app.context import AppContext
from tempme.app.validate import InputError, make_filters
from tempme.app.validate_example import clean_offset, example_request


class Api:
    """The endpoints over `ctx`."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def api_search(
        self,
        query: str,
        k: int = 10,
        folder: str = "",
        min_duration_s: float = 0.0,
        max_duration_s: float = 0.0,
        extensions: list[str] | None = None,
        mode: str = "all",
        per_video: bool = False,
        after: str = "",
        before: str = "",
        sort: str = "relevance",
        offset: int = 0,
    ) -> list[dict]:
        """Text search. Returns the hits, best first: dicts with segment_id, video_id, video,
        start_s, end_s, seek_s (seconds), score, rank, duration_s, recorded_at (ISO 8601, UTC),
        recorded_source and why they matched: matched (lists), visual_score, words (word,
        start_s, end_s), transcript, ocr_text, ocr_box. A max_duration_s of 0 means no maximum.
        mode: all, visual, speech or text. per_video: one hit per video (its best moment), as
        `tempme search --per-video`. after / before: recording dates (2024-06-01, local time
        unless an offset is given; empty: no bound). sort: relevance, date, date-asc, duration or
        duration-asc. offset: hits to skip (the next page). Raises gr.Error with the reason for
        bad input or a missing/empty library."""
        try:
            filters = make_filters(folder, min_duration_s, max_duration_s, extensions, after, before)
            hits = self.ctx.search(
                query, k, filters, offset=clean_offset(offset), mode=mode, sort=sort, per_video=bool(per_video)
            )
            return [m.to_dict() for m in hits]
        except InputError as e:
            raise gr.Error(str(e)) from None

    def api_search_example(self, example, request: dict | None = None) -> list[dict]:
        """Search by example: ``example`` an image (JPEG, PNG, WebP ...) or a video clip (an
        upload: ``gradio_client.handle_file(path)``); ``request`` a dict with any of text (refines
        the example), k, offset, mode, sort, text_weight, folder, min_duration_s,
        max_duration_s, extensions, after, before, and for a clip start_s, end_s (a span of it)
        and include_self. Returns the hits as ``/search`` does; gr.Error for bad input."""
        try:
            path, req = example_request(example, request)
            return [m.to_dict() for m in self.ctx.search_example(path, **req)]
        except InputError as e:
            raise gr.Error(str(e)) from None

    def api_similar(self, segment_id: int, k: int = 10) -> list[dict]:
        """ "More like this": the hits nearest to the stored vector of segment_id (itself left out)."""
        try:
            return [m.to_dict() for m in self.ctx.similar(segment_id, k)]
        except InputError as e:
            raise gr.Error(str(e)) from None

    def api_info(self) -> dict:
        """The library's weights (``weights``: random, named, file or unknown; ``weights_warning``:
        the sentence to show with every result for random weights, else null) and the search
        ``modes`` it has data for."""
        return self.ctx.info()

    def api_status(self) -> str:
        """The status line: library size, encoder, index type, last indexing run."""
        return self.ctx.status()

    def api_add(self, files) -> str:
        try:
            return self.ctx.add_files(files)
        except InputError as e:
            raise gr.Error(str(e)) from None

    def api_add_folder(self, folder: str) -> str:
        """Index a folder on the server (only when started with --allow-folder-add)."""
        try:
            return self.ctx.add_folder(folder)
        except InputError as e:
            raise gr.Error(str(e)) from None


def register(ctx: AppContext) -> None:
    """Add the endpoints to the page being built (inside its ``gr.Blocks``)."""
    api = Api(ctx)
    gr.api(api.api_search, api_name="search", concurrency_id="search", concurrency_limit=4)
    gr.api(api.api_similar, api_name="similar", concurrency_id="search", concurrency_limit=4)
    gr.api(api.api_status, api_name="status")
    gr.api(api.api_info, api_name="info")
    # Files travel through a (hidden) File component so gradio_client can upload them.
    files = gr.File(file_count="multiple", visible=False)
    result = gr.Textbox(visible=False, label="summary")
    button = gr.Button(visible=False)
    button.click(api.api_add, [files], [result], api_name="add", concurrency_id="index")
    example, request, found = gr.File(visible=False), gr.JSON(visible=False), gr.JSON(visible=False)
    example_btn = gr.Button(visible=False)
    example_btn.click(
        api.api_search_example, [example, request], [found], api_name="search_example", concurrency_id="search"
    )
    if ctx.allow_folder_add:
        gr.api(api.api_add_folder, api_name="add_folder", concurrency_id="index")
