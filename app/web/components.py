"""The page's components by name: what `page` lays out and `events` reads and writes.

Handlers return ``{component: value}`` dicts keyed by these (Gradio leaves every output not in
the dict as it is), so an output is named where it is set, never found by its position.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr


@dataclass(frozen=True)
class SearchBar:
    """The query, K, the match mode and the filters."""

    query: gr.Textbox
    k: gr.Number
    search_btn: gr.Button
    mode: gr.Radio
    folder: gr.Textbox
    min_d: gr.Number
    max_d: gr.Number
    exts: gr.CheckboxGroup
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
        return [self.folder, self.min_d, self.max_d, self.exts]


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
        return [r.gallery, self.state, r.message, r.more_btn, r.evidence, r.ticked, p.video, p.span, self.selected,
                p.similar_btn]  # fmt: skip
