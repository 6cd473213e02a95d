"""The page's layout, and `build_demo`: the page and its API for one library.

Layout, top to bottom, so that on a 390 px phone the first result is on screen after a search:
title; a banner when the library's weights are random; the status as one line (tap for the
rest); the query box (Enter searches; an image or a video clip dropped on it searches by
example, refined by the text) and Search; the "like this picture" / "like this clip" inputs;
the message (the search's verdict, or what went wrong) right under them; "Mode and filters",
collapsed (K, the match modes the library has data for, the order: relevance, recording date,
duration; a "then / while" second query joined in time; folder, from the library's folders or
typed; recording dates; duration range; file type); the results as cards, one per video, its
best moment's picture captioned "#rank ●●○ · file · start–end of length" (the dots: the
moment's confidence) and, when several moments of the video matched, those moments listed under
it as clickable times (like key moments under a video), with "load more", and ticks to put
moments on a timeline for editors (.otio / .edl); a player that opens the selected moment at
its `start_s` (gr.Video's `playback_position`), the span marked on its timeline and shown under
it, stopping on the moment's last frame or looping exactly within it (``assets/player.js``),
"more like this", "find moments like this span" (a span of the playing video, set from the
playhead), "explain this moment" and "download this moment" (an MP4 clip); an "add videos"
panel (upload, or a server folder when allowed; for a library without an encoder, the encoder
to start it with), whose result offers "Show new videos". Keys, the ``?q=…&mode=…`` address and
the "server gone" notice: ``assets/keys.js``; dropping an example on the query box:
``assets/query_drop.js``.

What the controls do is `events`; the API (gradio_client) is `endpoints`.
"""

from __future__ import annotations

import functools
from importlib.resources import files

import gradio as gr
from tempme.app.context import AppContext
from tempme.app.first_run import ARCHITECTURES
from tempme.app.validate import MAX_K, MAX_QUERY_CHARS, WEIGHTS_FILE
from tempme.app.web import endpoints
from tempme.app.web.components import AddPanel, LinkedVideo, Page, Player, Results, SearchBar
from tempme.app.web.events import wire
from tempme.app.web.links import Links
from tempme.app.web.state import SearchState
from tempme.index import SEARCH_MODES, SORT_ORDERS

EXTENSION_CHOICES = [".mp4", ".mkv", ".webm", ".mov", ".avi"]  # the common ones of index.files.VIDEO_EXTENSIONS
RANDOM_WARNING = (
    "⚠️ **Random weights: every search result will be meaningless.** The videos are encoded by an "
    "untrained network, and the library keeps that encoder for good (start a new library to change "
    "it). Use them only for a quick test, e.g. with `tempme-tiny`."
)


@functools.cache
def asset(name: str) -> str:
    """The text of ``assets/<name>`` (package data of tempme.app.web)."""
    return files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def page_script() -> str:
    """The page's one script (Gradio's ``js=`` takes one function): the player's
    (``player.js``), the keyboard, address and connection watcher's (``keys.js``) and the query
    box's drop target for examples (``query_drop.js``)."""
    keys = asset("keys.js").strip().replace("__MAX_QUERY_CHARS__", str(MAX_QUERY_CHARS))
    drop = asset("query_drop.js").strip()
    return f"() => {{ ({asset('player.js').strip()})(); ({keys})(); ({drop})(); }}"


def build_demo(ctx: AppContext, links: Links | None = None) -> gr.Blocks:
    """The page and its gradio_client API for the library in `ctx` (CSS and the page script
    are given when it is mounted: `tempme.app.web.server`); ``links``: the API's file links
    (`links.Links`)."""
    with gr.Blocks(title="tempme · video moment search", fill_width=True) as demo:
        page = layout(ctx)
        wire(demo, ctx, page, links)
        endpoints.register(ctx)
    return demo


def layout(ctx: AppContext) -> Page:
    """The page's components, top to bottom (inside a ``gr.Blocks``), by name."""
    gr.Markdown("## tempme · find moments in your videos", elem_id="title")
    banner = gr.Markdown(visible=False, elem_id="weights-banner")
    status = gr.HTML(elem_id="status", padding=False)
    state = gr.State(SearchState())
    selected = gr.State(None)
    with gr.Row(equal_height=True, elem_id="search-row"):
        query = gr.Textbox(
            label="Describe a moment",
            placeholder="e.g. a dog on a beach",
            scale=6,
            max_lines=1,
            elem_id="query",
            autofocus=True,
        )
        search_btn = gr.Button("Search", variant="primary", scale=1, min_width=90, elem_id="search-btn")
    message = gr.Markdown(elem_id="message")  # right under the box, where the eye is (issue 24)
    image, clip = _example_row()
    search = _options(query, search_btn, image, clip)
    results, player = _results_and_player(message)
    return Page(status, banner, state, selected, search, results, player, _add_panel(ctx))


def _example_row() -> tuple[gr.Image, gr.File]:
    """Search by example: a picture (dropped or pasted on the query box, assets/query_drop.js, or
    here) or a video clip (dropped on the query box or uploaded here)."""
    with gr.Row(equal_height=True, elem_id="example-row"):
        image = gr.Image(
            label="Like this picture", type="filepath", sources=["upload", "clipboard"], height=96,
            elem_id="query-image", scale=1, min_width=120,
        )  # fmt: skip
        clip = gr.File(
            label="Like this clip", file_types=["video"], height=96, elem_id="query-clip", scale=1, min_width=120,
        )  # fmt: skip
    return image, clip


def _options(query: gr.Textbox, search_btn: gr.Button, image: gr.Image, clip: gr.File) -> SearchBar:
    """K, the match mode, the order, the "then / while" second query and the filters, in one
    collapsed row under the message."""
    with gr.Accordion("Mode and filters", open=False, elem_id="options"):
        with gr.Row():
            # no minimum/maximum here: the app checks the number itself (clean_k) and says what is wrong
            k = gr.Number(
                value=12, precision=0, label="Results", scale=1, min_width=80, elem_id="k", info=f"1 to {MAX_K}"
            )
            mode = gr.Radio(
                list(SEARCH_MODES),
                value="all",
                label="Match",
                elem_id="mode",
                scale=3,
                info="all: what it looks like, what is said and what is written, fused",
            )
            sort = gr.Dropdown(list(SORT_ORDERS), value="relevance", label="Order", elem_id="sort", scale=1)
        relation, then, within, then_mode = _compound_row()
        with gr.Row():
            folder = gr.Dropdown(
                [], value=None, allow_custom_value=True, label="Folder (any part of its name)",
                info="holiday finds …/holiday 2023/", elem_id="folder", scale=3,
            )  # fmt: skip
            after = gr.Textbox(label="Recorded after", placeholder="2024-06-01", elem_id="after", scale=1)
            before = gr.Textbox(label="Recorded before", placeholder="2024-09-01", elem_id="before", scale=1)
        with gr.Row():
            min_d = gr.Number(label="Min video duration (s)", minimum=0, value=None, scale=1, elem_id="min-duration")
            max_d = gr.Number(label="Max video duration (s)", minimum=0, value=None, scale=1, elem_id="max-duration")
            exts = gr.CheckboxGroup(EXTENSION_CHOICES, label="File type", scale=3)
    return SearchBar(
        query, k, search_btn, mode, folder, min_d, max_d, exts, image, sort, after, before, clip, then, relation,
        within, then_mode,
    )  # fmt: skip


def _compound_row() -> tuple[gr.Radio, gr.Textbox, gr.Number, gr.Dropdown]:
    """ "Then / while": a second query joined in time, collapsed."""
    with gr.Accordion("Then / while: a second moment in time", open=False, elem_id="compound"):
        with gr.Row(equal_height=True):
            relation = gr.Radio(["then", "while"], value="then", label="Relation", scale=2, elem_id="relation")
            then = gr.Textbox(
                label="…followed by / while", placeholder="e.g. “the crowd cheers”", scale=5, elem_id="then"
            )
            within = gr.Number(value=10, label="Within (s, for then)", scale=1, min_width=80, elem_id="within")
            then_mode = gr.Dropdown(
                [("same as Match", ""), *[(m, m) for m in SEARCH_MODES]],
                value="",
                label="Its match",
                scale=2,
                elem_id="then-mode",
            )
    return relation, then, within, then_mode


def _results_and_player(message: gr.Markdown) -> tuple[Results, Player]:
    with gr.Row():
        with gr.Column(scale=3):
            # custom cards (one per video, its moments beneath): gr.Gallery has one tile per item
            gallery = gr.HTML("", elem_id="results", js_on_load=asset("results.js"), padding=False)
            evidence = gr.HTML(elem_id="evidence")
            more_btn = gr.Button("Load more", visible=False, elem_id="load-more")
            with gr.Accordion("Timeline for editors", open=False, elem_id="timeline"):
                ticked = gr.CheckboxGroup([], label="Moments to put on the timeline", elem_id="ticked")
                with gr.Row(equal_height=True):
                    timeline_format = gr.Radio([".otio", ".edl"], value=".otio", label="Format", scale=1)
                    timeline_btn = gr.Button("Export timeline", scale=1, elem_id="export-timeline")
                timeline_file = gr.File(label="Timeline", visible=False, elem_id="timeline-file")
        with gr.Column(scale=2, elem_id="player-col"):
            video = LinkedVideo(
                label="Player", interactive=False, autoplay=True, elem_id="player", buttons=["download"]
            )
            loop = gr.Checkbox(
                value=False, label="Loop the moment (off: stop at its end)", elem_id="loop", container=False
            )
            span = gr.Markdown(elem_id="span")
            moment = gr.JSON(visible=False)  # {start, end, duration} of the selected moment, for player.js
            similar_btn = gr.Button("More like this", elem_id="more-like-this", interactive=False)
            # "find moments like this span": a span of the playing video, the selected moment's to start with
            with gr.Row(equal_height=True):
                span_start = gr.Number(label="Span from (s)", minimum=0, elem_id="span-start", min_width=80)
                span_from_here = gr.Button("from the playhead", size="sm", elem_id="span-from-here", min_width=60)
                span_end = gr.Number(label="to (s)", minimum=0, elem_id="span-end", min_width=80)
                span_to_here = gr.Button("to the playhead", size="sm", elem_id="span-to-here", min_width=60)
            span_btn = gr.Button("Find moments like this span", elem_id="like-span", interactive=False)
            # "Explain this moment": a picture of how TempMe merged the selected moment's tokens
            # (AppContext.explain), hidden until asked for and again when the selection changes
            explain_btn = gr.Button("Explain this moment", elem_id="explain", size="sm")
            # no label over the picture: Gradio's label would cover the title drawn in it
            picture = gr.Image(
                label="Token merging", show_label=False, type="filepath", interactive=False, visible=False,
                elem_id="explain-image",
            )  # fmt: skip
            note = gr.Markdown(elem_id="explain-message")
            download_btn = gr.Button("Download this moment", elem_id="download-moment", size="sm")
            download_file = gr.File(label="Clip", visible=False, elem_id="moment-file")
    player = Player(
        video, loop, span, moment, similar_btn, span_start, span_end, span_from_here, span_to_here, span_btn,
        explain_btn, picture, note, download_btn, download_file,
    )  # fmt: skip
    results = Results(message, gallery, evidence, more_btn, ticked, timeline_format, timeline_btn, timeline_file)
    return results, player


def _encoder_choice(ctx: AppContext) -> list:
    """ "Start the library": the model, its weights (a file, or random with a confirmation), an adapter."""
    gr.Markdown(
        "**Start the library**: choose the encoder that indexes it. The library records it "
        "(as `tempme index --model … --pretrained …` does) and encodes every later video the same way."
    )
    arch = gr.Radio(
        list(ARCHITECTURES),
        value=ARCHITECTURES[0],
        label="Model (open_clip architecture; tempme-tiny: a small test model)",
        elem_id="arch",
    )
    # a library with an encoder never shows this panel: building it must not import torch (listing
    # the downloaded tags does), so that a server answers text queries without it; the tags are
    # listed again when the model radio changes
    first_weights = ctx.weight_choices(ARCHITECTURES[0], downloaded=ctx.needs_encoder())
    weights = gr.Radio(
        first_weights,
        value=first_weights[0][1],
        label="Weights (open_clip tags already downloaded to this machine, a file, or random)",
        elem_id="weights",
    )
    weights_file = gr.Textbox(
        label="Weights file on the server",
        placeholder="/models/ViT-B-32.pt (OpenAI's archive or an open_clip state dict)",
        visible=first_weights[0][1] == WEIGHTS_FILE,
        elem_id="weights-file",
    )
    adapter = gr.Textbox(
        label="Adapter folder on the server (optional)", placeholder="/models/tempme-adapter", elem_id="adapter"
    )
    random_warning = gr.Markdown(RANDOM_WARNING, visible=False, elem_id="random-warning")
    random_ok = gr.Checkbox(
        label="I understand: with random weights every result is meaningless", visible=False, elem_id="random-ok"
    )
    return [arch, weights, weights_file, adapter, random_warning, random_ok]


def _add_panel(ctx: AppContext) -> AddPanel:
    with gr.Accordion("Add videos", open=False, elem_id="add-panel") as panel:
        with gr.Group(visible=False, elem_id="first-run") as first_run:
            choice = _encoder_choice(ctx)
        uploads = gr.File(label="Video files", file_count="multiple", file_types=["video"], elem_id="upload")
        add_btn = gr.Button("Add to library", elem_id="add")
        folder_path = folder_btn = None
        if ctx.allow_folder_add:
            with gr.Row():
                folder_path = gr.Textbox(label="Folder on the server", placeholder="/srv/videos", scale=4)
                folder_btn = gr.Button("Index folder", scale=1)
        message = gr.Markdown(elem_id="add-message")
        new_videos = gr.State([])
        show_new_btn = gr.Button("Show new videos", visible=False, elem_id="show-new")
    return AddPanel(
        panel, first_run, *choice, uploads, add_btn, folder_path, folder_btn, message, new_videos, show_new_btn
    )
