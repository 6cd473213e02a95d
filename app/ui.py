"""The Gradio page: a thin shell over `app.handlers` (every decision is made there).

Layout: status line; query box (Enter searches), K and filters (folder, duration range, file
type); a gallery of thumbnails, one per moment, captioned "score · file · start–end", with
"load more"; a player that opens the selected moment at its `start_s` (gr.Video's
`playback_position`) with the span shown under it and as a caption over the span, and
"more like this"; an "add videos" panel (upload, or a server folder when allowed).

API (gradio_client): ``/search`` (query, k, folder, min_duration_s, max_duration_s,
extensions) -> list of hit dicts; ``/similar`` (segment_id, k) -> list of hit dicts;
``/add`` (files) -> summary text; ``/add_folder`` (path) when the server allows it;
``/status`` -> the status line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr
from tempme.app.handlers import (
    MAX_K,
    SEARCH_MODES,
    AppContext,
    Hit,
    InputError,
    SearchState,
    evidence_html,
    format_time,
    make_filters,
)
from tempme.index.types import format_clock

logger = logging.getLogger(__name__)

EXTENSION_CHOICES = [".mp4", ".mkv", ".webm", ".mov", ".avi"]  # the common ones of index.files.VIDEO_EXTENSIONS
CSS = """
#status {font-size: 0.9em; opacity: 0.85}
#message p {margin: 0.2em 0}
#results .caption-label {white-space: normal}
#evidence mark, #span mark {background: #ffe066; padding: 0 0.15em; border-radius: 0.2em}
#evidence ol {margin: 0.3em 0 0 1.2em}
/* result cards: the picture whole, the caption under it (not over it), wrapped, never cut */
#results .thumbnail-item {display: flex; flex-direction: column; height: auto !important; aspect-ratio: auto !important}
#results .thumbnail-item img {aspect-ratio: 16 / 9; width: 100%; height: auto !important; object-fit: cover}
#results .caption-label {position: static !important; transform: none !important; max-width: 100% !important;
  white-space: normal !important; overflow-wrap: anywhere; background: none !important; color: inherit !important;
  padding: 0.25em 0.1em !important; text-align: left; font-size: 0.85em; box-shadow: none !important}
#results .grid-wrap {max-height: none !important; overflow: visible !important}
@media (max-width: 600px) { #results .grid-container {grid-template-columns: repeat(2, minmax(0, 1fr)) !important} }
/* the player follows the results on wide screens */
@media (min-width: 900px) { #player-col {position: sticky; top: 0.5rem; align-self: flex-start} }
"""
# after a tap, bring the player into view (on a phone it sits below the results)
SCROLL_TO_PLAYER = "() => { const p = document.querySelector('#player'); if (p) p.scrollIntoView({block: 'start'}); }"
MATCH_DOTS = 5


def match_dots(score: float, best: float, worst: float) -> str:
    """A relative match indicator for one result among those shown: 5 filled dots for the best,
    1 for the worst (``●●●○○``); raw cosines have no scale a person can read."""
    if best - worst <= 1e-9:
        n = MATCH_DOTS
    else:
        n = 1 + round((MATCH_DOTS - 1) * (score - worst) / (best - worst))
    return "●" * n + "○" * (MATCH_DOTS - n)


def _message(text: str, ok: bool = True) -> str:
    return text if ok else f"⚠️ {text}"


def _gallery(moments: list[Hit]) -> list[tuple[str, str]]:
    """(thumbnail, caption) per card: match dots · file · ``0:41–0:44 of 0:55``."""
    scores = [m.score for m in moments] or [0.0]
    best, worst = max(scores), min(scores)
    return [(m.thumbnail, f"{match_dots(m.score, best, worst)} · {m.caption}") for m in moments if m.thumbnail]


def _evidence(moments: list[Hit]) -> str:
    """Under the thumbnails: each moment's rank, file and why it matched, matched words highlighted."""
    rows = [f"<li><b>{m.name}</b> {m.span}: {evidence_html(m)}</li>" for m in moments if m.thumbnail]
    return f"<ol>{''.join(rows)}</ol>" if rows else ""


def _found(state: SearchState, new: int) -> str:
    what = f"“{state.query}”" if state.query is not None else f"moments like {state.similar_label}"
    if not state.moments:
        return f"No moments match {what}" + ("" if state.filters.empty else " with these filters") + "."
    more = "" if new == state.k else " (no more results)"
    return f"{len(state.moments)} moments for {what}{more}. Select one to play it."


def explain_panel(ctx: AppContext, state: gr.State, selected: gr.State) -> None:
    """ "Explain this moment": a button, and under it (hidden until asked for) a picture of how
    TempMe merged the selected moment's tokens (`AppContext.explain`); hidden again when the
    selection changes."""
    button = gr.Button("Explain this moment", elem_id="explain", size="sm")
    picture = gr.Image(
        label="Token merging", type="filepath", interactive=False, visible=False, elem_id="explain-image"
    )
    note = gr.Markdown(elem_id="explain-message")

    def on_explain(state: SearchState, segment_id):
        m = next((m for m in state.moments if m.segment_id == segment_id), None) if segment_id is not None else None
        if m is None:
            return gr.update(value=None, visible=False), _message(
                "Select a result first, then “Explain this moment”.", ok=False
            )
        try:
            path = ctx.explain(m)
        except InputError as e:
            return gr.update(value=None, visible=False), _message(str(e), ok=False)
        text = (
            f"How TempMe merged the tokens of **{m.name}** {m.when}: the 12 frames it sampled; each colour "
            "is one token after the last merge (ClipMe merges across frames, so a colour can recur); "
            "uncoloured patches are still tokens of their own."
        )
        return gr.update(value=str(path), visible=True, label=f"Token merging · {m.name}"), text

    def on_selection_change():
        return gr.update(value=None, visible=False), ""

    private = {"api_visibility": "private"}
    button.click(
        on_explain, [state, selected], [picture, note], concurrency_id="explain", concurrency_limit=1, **private
    )
    selected.change(on_selection_change, None, [picture, note], **private)


def build_demo(ctx: AppContext) -> gr.Blocks:
    """The page and its API for the library in `ctx`."""

    def on_status() -> str:
        return ctx.status()

    def _results(moments):
        return gr.Gallery(value=_gallery(moments), selected_index=None)

    def _cleared():  # new results: no selection, an empty player, nothing to find "more like"
        return gr.update(value=None, label="Player"), "", None, gr.update(interactive=False)

    def _kept():
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()

    def run_search(query, k, folder, min_d, max_d, exts, state, mode="all"):
        try:
            filters = make_filters(folder, min_d, max_d, exts)
            moments = ctx.search(query, k, filters, mode=mode or "all")
        except InputError as e:
            return gr.skip(), state, _message(str(e), ok=False), gr.skip(), gr.skip(), *_kept()
        state = SearchState(
            query=" ".join(query.split()), k=int(k), filters=filters, moments=moments, mode=mode or "all"
        )
        return (
            _results(moments),
            state,
            _found(state, len(moments)),
            gr.update(visible=len(moments) == state.k),
            _evidence(moments),
            *_cleared(),
        )

    def load_more(state: SearchState):
        try:
            new = ctx.next_page(state)
        except InputError as e:
            return gr.skip(), state, _message(str(e), ok=False), gr.skip(), gr.skip(), *_kept()
        state.moments = state.moments + new
        return (
            _gallery(state.moments),
            state,
            _found(state, len(new)),
            gr.update(visible=len(new) == state.k),
            _evidence(state.moments),
            *_kept(),
        )

    def select(state: SearchState, evt: gr.SelectData):
        if not state.moments or evt.index is None or evt.index >= len(state.moments):
            return gr.skip(), _message("Select a result first.", ok=False), None, gr.skip()
        m = state.moments[evt.index]
        try:
            path = ctx.playable(m)
        except InputError as e:
            return gr.skip(), _message(str(e), ok=False), None, gr.skip()
        span = f"**{m.name}** · moment {m.when} · result {m.rank} (score {m.score:.3f})  \n`{m.path}`" + (
            f"  \n{evidence_html(m)}" if m.matched != ("visual",) else ""
        )
        video = gr.Video(
            value=str(path),
            playback_position=m.seek_s,  # the first matched word, else the moment's start
            subtitles=[{"text": f"matched moment {m.span}", "timestamp": [m.start_s, m.end_s]}],
            label=f"{m.name} @ {format_time(m.start_s)}",
        )
        return video, span, m.segment_id, gr.update(interactive=True)

    def seek(state: SearchState, segment_id):
        m = next((m for m in state.moments if m.segment_id == segment_id), None)
        return gr.skip() if m is None else gr.Video(playback_position=m.seek_s)

    def more_like_this(segment_id, k, folder, min_d, max_d, exts, state):
        if segment_id is None:
            return (
                gr.skip(),
                state,
                _message("Select a result first, then “more like this”.", ok=False),
                gr.skip(),
                gr.skip(),
                *_kept(),
            )
        source = next((m for m in state.moments if m.segment_id == segment_id), None)
        try:
            filters = make_filters(folder, min_d, max_d, exts)
            moments = ctx.similar(segment_id, k, filters)
        except InputError as e:
            return gr.skip(), state, _message(str(e), ok=False), gr.skip(), gr.skip(), *_kept()
        label = f"{source.name} at {format_clock(source.start_s)}" if source else "the selected moment"
        state = SearchState(similar_to=int(segment_id), similar_label=label, k=int(k), filters=filters, moments=moments)
        return (
            _results(moments),
            state,
            _found(state, len(moments)),
            gr.update(visible=len(moments) == state.k),
            _evidence(moments),
            *_cleared(),
        )

    def _progress_cb(progress: gr.Progress):
        def cb(done: int, total: int, name: str) -> None:
            desc = f"indexed {Path(str(name)).name}" if name else "loading the encoder"
            progress((done, total), desc=desc, unit="videos")

        return cb

    def on_add_files(files, progress=gr.Progress()):
        try:
            text = ctx.add_files(files, _progress_cb(progress))
        except InputError as e:
            return _message(str(e), ok=False), ctx.status(), gr.skip()
        return _message(text), ctx.status(), None  # the file list is cleared once they are in

    def on_add_folder(folder, progress=gr.Progress()):
        try:
            text = ctx.add_folder(folder, _progress_cb(progress))
        except InputError as e:
            return _message(str(e), ok=False), ctx.status()
        return _message(text), ctx.status()

    # -- API-only endpoints (typed for gradio_client) -------------------------------------------

    def api_search(
        query: str,
        k: int = 10,
        folder: str = "",
        min_duration_s: float = 0.0,
        max_duration_s: float = 0.0,
        extensions: list[str] | None = None,
        mode: str = "all",
    ) -> list[dict]:
        """Text search. Returns the hits, best first: dicts with segment_id, video_id, video,
        start_s, end_s, seek_s (seconds), score, rank, duration_s and why they matched: matched
        (lists), visual_score, words (word, start_s, end_s), transcript, ocr_text, ocr_box. A
        max_duration_s of 0 means no maximum. mode: all, visual, speech or text. Raises
        gr.Error with the reason for bad input or a missing/empty library."""
        try:
            filters = make_filters(folder, min_duration_s, max_duration_s, extensions)
            return [m.to_dict() for m in ctx.search(query, k, filters, mode=mode)]
        except InputError as e:
            raise gr.Error(str(e)) from None

    def api_similar(segment_id: int, k: int = 10) -> list[dict]:
        """ "More like this": the hits nearest to the stored vector of segment_id (itself left out)."""
        try:
            return [m.to_dict() for m in ctx.similar(segment_id, k)]
        except InputError as e:
            raise gr.Error(str(e)) from None

    def api_status() -> str:
        """The status line: library size, encoder, index type, last indexing run."""
        return ctx.status()

    def api_add(files) -> str:
        try:
            return ctx.add_files(files)
        except InputError as e:
            raise gr.Error(str(e)) from None

    def api_add_folder(folder: str) -> str:
        """Index a folder on the server (only when started with --allow-folder-add)."""
        try:
            return ctx.add_folder(folder)
        except InputError as e:
            raise gr.Error(str(e)) from None

    with gr.Blocks(title="tempme · video moment search", fill_width=True) as demo:
        gr.Markdown("## tempme · find moments in your videos")
        status_md = gr.Markdown(elem_id="status")
        state = gr.State(SearchState())
        selected = gr.State(None)
        with gr.Row(equal_height=True):
            query = gr.Textbox(
                label="Describe a moment",
                placeholder="e.g. “a woman flipping a pancake”, then press Enter",
                scale=6,
                max_lines=1,
                elem_id="query",
                autofocus=True,
            )
            # no minimum/maximum here: the app checks the number itself (clean_k) and says what is wrong
            k = gr.Number(
                value=12, precision=0, label="Results", scale=1, min_width=80, elem_id="k", info=f"1 to {MAX_K}"
            )
            search_btn = gr.Button("Search", variant="primary", scale=1, min_width=100)
        mode = gr.Radio(
            list(SEARCH_MODES),
            value="all",
            label="Match",
            elem_id="mode",
            info="all: what it looks like, what is said and what is written, fused",
        )
        with gr.Accordion("Filters", open=False):
            with gr.Row():
                folder = gr.Textbox(label="Folder (path prefix)", placeholder="/videos/holiday", scale=3)
                min_d = gr.Number(label="Min video duration (s)", minimum=0, value=None, scale=1)
                max_d = gr.Number(label="Max video duration (s)", minimum=0, value=None, scale=1)
                exts = gr.CheckboxGroup(EXTENSION_CHOICES, label="File type", scale=3)
        message = gr.Markdown(elem_id="message")
        with gr.Row():
            with gr.Column(scale=3):
                gallery = gr.Gallery(
                    label="Moments",
                    columns=4,
                    height=None,
                    allow_preview=False,
                    object_fit="cover",
                    elem_id="results",
                    buttons=[],
                )
                evidence = gr.HTML(elem_id="evidence")
                more_btn = gr.Button("Load more", visible=False, elem_id="load-more")
            with gr.Column(scale=2, elem_id="player-col"):
                player = gr.Video(
                    label="Player",
                    interactive=False,
                    autoplay=True,
                    elem_id="player",
                    buttons=["download"],
                )
                span = gr.Markdown(elem_id="span")
                # a slot for "why it matched" (matched words of speech / on-screen text) goes here
                similar_btn = gr.Button("More like this", elem_id="more-like-this", interactive=False)
                explain_panel(ctx, state, selected)
        with gr.Accordion("Add videos", open=False, elem_id="add-panel"):
            uploads = gr.File(
                label="Video files",
                file_count="multiple",
                file_types=["video"],
                elem_id="upload",
            )
            add_btn = gr.Button("Add to library", elem_id="add")
            if ctx.allow_folder_add:
                with gr.Row():
                    folder_path = gr.Textbox(label="Folder on the server", placeholder="/srv/videos", scale=4)
                    folder_btn = gr.Button("Index folder", scale=1)
            add_msg = gr.Markdown(elem_id="add-message")

        inputs = [query, k, folder, min_d, max_d, exts, state, mode]
        outputs = [gallery, state, message, more_btn, evidence, player, span, selected, similar_btn]
        private = {"api_visibility": "private"}
        searching = {"concurrency_id": "search", "concurrency_limit": 4, **private}
        query.submit(run_search, inputs, outputs, **searching)
        search_btn.click(run_search, inputs, outputs, **searching)
        more_btn.click(load_more, [state], outputs, **searching)
        # Two steps: Gradio's player resets its position when a new file loads, so the start
        # (playback_position) is set once the file is in place.
        gallery.select(select, [state], [player, span, selected, similar_btn], concurrency_limit=4, **private).then(
            seek, [state, selected], [player], **private
        ).then(None, None, None, js=SCROLL_TO_PLAYER)
        similar_btn.click(more_like_this, [selected, k, folder, min_d, max_d, exts, state], outputs, **searching)
        # progress shows in the Add panel (on its message), not over the status line
        add_btn.click(
            on_add_files,
            [uploads],
            [add_msg, status_md, uploads],
            concurrency_id="index",
            show_progress_on=[add_msg],
            **private,
        )
        if ctx.allow_folder_add:
            folder_btn.click(
                on_add_folder,
                [folder_path],
                [add_msg, status_md],
                concurrency_id="index",
                show_progress_on=[add_msg],
                **private,
            )
        demo.load(on_status, None, status_md, **private)
        gr.Timer(30).tick(on_status, None, status_md, **private)  # indexing by other processes

        gr.api(api_search, api_name="search", concurrency_id="search", concurrency_limit=4)
        gr.api(api_similar, api_name="similar", concurrency_id="search", concurrency_limit=4)
        gr.api(api_status, api_name="status")
        # Files travel through a (hidden) File component so gradio_client can upload them.
        api_files = gr.File(file_count="multiple", visible=False)
        api_result = gr.Textbox(visible=False, label="summary")
        api_btn = gr.Button(visible=False)
        api_btn.click(api_add, [api_files], [api_result], api_name="add", concurrency_id="index")
        if ctx.allow_folder_add:
            gr.api(api_add_folder, api_name="add_folder", concurrency_id="index")
    return demo
