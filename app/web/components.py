"""The page's components by name: what `page` lays out and `events` reads and writes.

Handlers return ``{component: value}`` dicts keyed by these (Gradio leaves every output not in
the dict as it is), so an output is named where it is set, never found by its position.
"""

from __future__ import annotations

from abc import ABCMeta
from dataclasses import dataclass

import gradio as gr
from gradio.component_meta import ComponentMeta
from gradio.data_classes import FileData


def _linked_postprocess(self: gr.Video, value):
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return FileData(path=value, url=value, mime_type="video/mp4")  # a url: Gradio sends it as it is
    return gr.Video.postprocess(self, value)


# The player: a ``gr.Video`` that takes an http(s) URL the browser fetches itself, with Range
# requests (the API's stream route). A plain ``gr.Video`` downloads such a URL into Gradio's cache
# first, and refuses a loopback host. It must be a class, not a patched instance: an update
# (``gr.Video(value=..., playback_position=...)`` from a handler) makes Gradio build a new
# instance with ``block.__class__(**kwargs)`` (gradio/blocks.py, postprocess_data).
# Built with ``ABCMeta.__new__`` instead of a class statement: ``ComponentMeta.__new__``
# (gradio/component_meta.py) would write a ``.pyi`` beside this module; besides that file it only
# wraps a class's own ``__init__`` (there is none here) and binds ``EVENTS`` (inherited from
# gr.Video, already bound). ``is_template``: the page draws it with Video's Svelte component.
LinkedVideo: type[gr.Video] = ABCMeta.__new__(
    ComponentMeta,
    "LinkedVideo",
    (gr.Video,),
    {"__module__": __name__, "postprocess": _linked_postprocess, "is_template": True},
)


@dataclass(frozen=True)
class SearchBar:
    """The query (text, and an image or clip dropped or pasted on it), K, the match mode, the order and the filters."""

    query: gr.Textbox
    k: gr.Number
    search_btn: gr.Button
    mode: gr.Radio
    folder: gr.Dropdown  # the library's folders as choices, or any text
    min_d: gr.Number
    max_d: gr.Number
    exts: gr.CheckboxGroup
    image: gr.Image  # an image query (dropped or pasted on the query box: assets/query_drop.js)
    sort: gr.Dropdown
    after: gr.Textbox
    before: gr.Textbox
    clip: gr.File  # a video clip query (dropped on the query box: assets/query_drop.js, or uploaded here)
    then: gr.Textbox  # "then / while": a second query joined in time (empty: a plain search)
    relation: gr.Radio
    within: gr.Number
    then_mode: gr.Dropdown

    @property
    def compound(self) -> list[gr.components.Component]:
        """The "then / while" inputs, in the order `app.exports.compound_query` takes them."""
        return [self.then, self.relation, self.within, self.then_mode]

    @property
    def filters(self) -> list[gr.components.Component]:
        """The filter inputs, in the order `app.validate.make_filters` takes them."""
        return [self.folder, self.min_d, self.max_d, self.exts, self.after, self.before]


@dataclass(frozen=True)
class Results:
    """The sentence above the results, the cards, why they matched, "load more"."""

    message: gr.Markdown
    gallery: gr.HTML
    evidence: gr.HTML
    more_btn: gr.Button
    ticked: gr.CheckboxGroup  # moments ticked for the timeline (values: indices into the results)
    timeline_format: gr.Radio
    timeline_btn: gr.Button
    timeline_file: gr.File


@dataclass(frozen=True)
class Player:
    """The player of the selected moment and what acts on that moment."""

    video: gr.Video
    loop: gr.Checkbox
    span: gr.Markdown
    moment: gr.JSON  # {start, end, duration} of the selected moment, for player.js
    similar_btn: gr.Button
    span_start: gr.Number  # "find moments like this span": the span of the playing video (s)
    span_end: gr.Number
    span_from_here: gr.Button  # set the span's start / end to the player's position (JavaScript)
    span_to_here: gr.Button
    span_btn: gr.Button
    explain_btn: gr.Button
    explain_picture: gr.Image
    explain_note: gr.Markdown
    download_btn: gr.Button  # "Download this moment": an MP4 of the selected moment
    download_file: gr.File


@dataclass(frozen=True)
class AddPanel:
    """ "Add videos": the first-run encoder choice, uploads, a server folder (when allowed)."""

    panel: gr.Accordion
    first_run: gr.Group
    arch: gr.Radio
    weights: gr.Radio
    weights_file: gr.Textbox
    adapter: gr.Textbox
    random_warning: gr.Markdown
    random_ok: gr.Checkbox
    uploads: gr.File
    add_btn: gr.Button
    folder_path: gr.Textbox | None  # None unless the server allows folder paths
    folder_btn: gr.Button | None
    message: gr.Markdown
    new_videos: gr.State
    show_new_btn: gr.Button

    @property
    def encoder_choice(self) -> list[gr.components.Component]:
        """The first-run inputs, in the order `AppContext.encoder_choice` takes them."""
        return [self.arch, self.weights, self.weights_file, self.adapter, self.random_ok]


@dataclass(frozen=True)
class Page:
    """Every component a handler reads or writes."""

    status: gr.HTML  # one line; a tap opens the rest (render.status_html)
    banner: gr.Markdown  # random weights, said over the page
    state: gr.State  # the `SearchState` shown
    selected: gr.State  # the selected moment's segment id, or None
    search: SearchBar
    results: Results
    player: Player
    add: AddPanel

    @property
    def result_outputs(self) -> list[gr.components.Component]:
        """What a new result list may change: the results, the state and the player."""
        r, p = self.results, self.player
        return [
            r.gallery, self.state, r.message, r.more_btn, r.evidence, r.ticked, p.video, p.span, self.selected,
            p.similar_btn, p.span_btn,
        ]  # fmt: skip
