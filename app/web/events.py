"""What each control of the page does: `Events`' handlers, and `wire` to attach them.

Every handler calls `AppContext` (where each decision is made) and returns a dict keyed by the
components it changes (`components.Page`); outputs left out keep their value. A person's mistake
(`InputError`) takes one path: its message above the results, nothing else changed.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from tempme.app.context import AppContext
from tempme.app.exports import PageExports, compound_query
from tempme.app.validate import RANDOM_WEIGHTS, WEIGHTS_FILE, InputError, make_filters
from tempme.app.web.components import Page
from tempme.app.web.links import Links, root_url
from tempme.app.web.progress import progress_bar
from tempme.app.web.render import (
    banner_text,
    evidence_list,
    explain_caption,
    found_message,
    moment_caption,
    results_html,
    similar_label,
    status_html,
    warning,
)
from tempme.app.web.state import SearchState, next_page
from tempme.index import format_time, plural

# after a tap, bring the player into view (on a phone it sits below the results)
SCROLL_TO_PLAYER = "() => { const p = document.querySelector('#player'); if (p) p.scrollIntoView({block: 'start'}); }"
SCROLL_TO_RESULTS = "() => { const r = document.querySelector('#results'); if (r) r.scrollIntoView({block: 'start'}); }"
# hand the selected moment's span and the loop setting to player.js (window.tempmePlayer)
SET_SPAN = "(span, loop) => { if (window.tempmePlayer) window.tempmePlayer.set(span, loop); }"
SET_LOOP = "(loop) => { if (window.tempmePlayer) window.tempmePlayer.loop = !!loop; }"
# the player's position (s, 2 decimals), for the span of "find moments like this span"
PLAYHEAD = "() => { const v = document.querySelector('#player video'); return v ? Math.round(v.currentTime * 100) / 100 : null; }"
# the address carries the search (?q=…&mode=…): kept in step after each search, read on load (keys.js)
SET_ADDRESS = "(q, mode) => { if (window.tempmeKeys) window.tempmeKeys.address(q, mode); }"
READ_ADDRESS = "() => window.tempmeKeys ? window.tempmeKeys.read() : ['', 'all']"
PRIVATE = {"api_visibility": "private"}  # page events are not part of the API (endpoints.py is)
SEARCHING = {"concurrency_id": "search", "concurrency_limit": 4, **PRIVATE}
INDEXING = {"concurrency_id": "index", **PRIVATE}


class Events:
    """The page's handlers over `ctx`, writing to the components of `page`; ``links``: where
    the browser fetches pictures and videos (None: Gradio serves the files themselves, for
    tests without the API)."""

    def __init__(self, ctx: AppContext, page: Page, links: Links | None = None) -> None:
        self.ctx, self.page, self.links = ctx, page, links
        self.exports = PageExports(ctx)

    # -- what every result list shows ---------------------------------------------------------

    def _error(self, e: InputError | str) -> dict:
        return {self.page.results.message: warning(str(e))}

    def _show(self, state: SearchState, new: int, *, scored: bool = True, keep_player: bool = False) -> dict:
        """The results of `state` (``new``: how many the last request returned); unless
        ``keep_player``, no selection, an empty player and nothing to find "more like"."""
        p, r = self.page, self.page.results
        ticks = [(f"{i + 1}. {m.name} {m.span}", i) for i, m in enumerate(state.moments)]  # for the timeline
        out = {
            r.gallery: results_html(state.moments, scored, self.links.thumbnail if self.links else None),
            p.state: state,
            r.message: found_message(state, new),
            r.more_btn: gr.update(visible=scored and new == state.k),
            r.evidence: evidence_list(state.moments) if scored else "",
            r.ticked: gr.update(choices=ticks) if keep_player else gr.update(choices=ticks, value=[]),
        }
        if not keep_player:
            pl = p.player
            out |= {pl.video: gr.update(value=None, label="Player"), pl.span: "", p.selected: None}
            out[pl.similar_btn] = gr.update(interactive=False)
            out[pl.span_btn] = gr.update(interactive=False)
        return out

    # -- searching ----------------------------------------------------------------------------

    def _found(self, state: SearchState) -> dict:
        """A new result list; when empty because its folder matches no folder of the library, say so."""
        out = self._show(state, len(state.moments))
        if not state.moments and (message := self.ctx.no_match_message(state.filters)):
            out[self.page.results.message] = message
        return out

    def run_search(
        self, query, k, folder, min_d, max_d, exts, after, before, state: SearchState, mode="all", image=None,
        sort="relevance", clip=None, then="", relation="then", within=10, then_mode="",
    ) -> dict:  # fmt: skip
        """A text (or "then / while" two), else the picture refined by it, else the clip refined by it."""
        mode, sort = mode or "all", sort or "relevance"
        image, clip = image or None, (clip or None) if not image else None
        try:
            filters = make_filters(folder, min_d, max_d, exts, after, before)
            compound = compound_query(query, then, relation, within, then_mode)
            if clip is not None and compound is None:
                moments = self.ctx.search_clip(clip, query, k, filters, mode=mode, sort=sort)
            else:
                clip = None  # "then / while" searches the texts; a picture in place is refused
                moments = self.ctx.search(query, k, filters, mode=mode, sort=sort, image=image, compound=compound)
        except InputError as e:
            return self._error(e)
        text = " ".join((query or "").split()) or None
        state = SearchState(query=text, image=image, clip=clip, sort=sort, k=int(k), filters=filters,
                            moments=moments, mode=mode, compound=compound)  # fmt: skip
        return self._found(state)

    def run_clip(self, query, k, folder, min_d, max_d, exts, after, before, state, mode, clip, sort) -> dict:
        """A clip just dropped or uploaded: it, refined by the text (a picture in place is not used)."""
        return self.run_search(query, k, folder, min_d, max_d, exts, after, before, state, mode, None, sort, clip)

    def like_span(self, state: SearchState, segment_id, start, end, k, folder, min_d, max_d, exts, after, before,
                  sort="relevance") -> dict:  # fmt: skip
        m = state.moment(segment_id)
        if m is None:
            return self._error("Select a result first; then set a span of its video and “find moments like this span”.")
        try:
            filters = make_filters(folder, min_d, max_d, exts, after, before)
            moments = self.ctx.like_span(m.path, start, end, k, filters, sort=sort or "relevance")
        except InputError as e:
            return self._error(e)
        span = (str(m.path), float(start), float(end))
        return self._found(SearchState(span=span, sort=sort or "relevance", k=int(k), filters=filters, moments=moments))

    def load_more(self, state: SearchState) -> dict:
        try:
            new = next_page(self.ctx, state)
        except InputError as e:
            return self._error(e)
        state.moments = state.moments + new
        return self._show(state, len(new), keep_player=True)

    def more_like_this(self, segment_id, k, folder, min_d, max_d, exts, after, before, state: SearchState) -> dict:
        if segment_id is None:
            return self._error("Select a result first, then “more like this”.")
        try:
            filters = make_filters(folder, min_d, max_d, exts, after, before)
            moments = self.ctx.similar(segment_id, k, filters)
        except InputError as e:
            return self._error(e)
        label = similar_label(state.moment(segment_id))
        state = SearchState(similar_to=int(segment_id), similar_label=label, k=int(k), filters=filters, moments=moments)
        return self._show(state, len(moments))

    def show_new(self, videos, k, state: SearchState) -> dict:
        try:
            moments = self.ctx.new_moments(videos or ())
        except InputError as e:
            return self._error(e)
        state = SearchState(new_videos=tuple(Path(v) for v in videos or ()), k=state.k, moments=moments)
        return self._show(state, 0, scored=False)

    # -- the selected moment ------------------------------------------------------------------

    def select(self, state: SearchState, evt: gr.SelectData, request: gr.Request = None) -> dict:
        pl, index = self.page.player, evt.index if isinstance(evt.index, int) else -1
        if not state.moments or not 0 <= index < len(state.moments):
            return {pl.span: warning("Select a result first."), self.page.selected: None, pl.moment: None}
        m = state.moments[index]
        try:
            path = self.ctx.playable(m.video_id)  # the library's rule, said on the page before the player asks
        except InputError as e:
            return {pl.span: warning(str(e)), self.page.selected: None, pl.moment: None}
        root = root_url(request) if self.links else ""
        video = gr.Video(
            value=root + self.links.stream(m.video_id) + "&playable=true" if root else str(path),
            playback_position=m.seek_s,  # the first matched word, else the moment's start
            subtitles=[{"text": f"matched moment {m.span}", "timestamp": [m.start_s, m.end_s]}],
            label=f"{m.name} @ {format_time(m.start_s)}",
        )
        return {
            pl.video: video,
            pl.span: moment_caption(m, scored=not state.new_videos),
            self.page.selected: m.segment_id,
            pl.similar_btn: gr.update(interactive=True),
            pl.moment: {"start": m.start_s, "end": m.end_s, "duration": m.duration_s},
            pl.span_start: round(m.start_s, 2),
            pl.span_end: round(m.end_s, 2),
            pl.span_btn: gr.update(interactive=True),
        }

    def seek(self, state: SearchState, segment_id):
        """Gradio's player resets its position when a new file loads: set the start once it has."""
        m = state.moment(segment_id)
        return gr.skip() if m is None else gr.Video(playback_position=m.seek_s)

    def on_explain(self, state: SearchState, segment_id) -> dict:
        pl, m = self.page.player, state.moment(segment_id)
        hidden = gr.update(value=None, visible=False)
        if m is None:
            return {
                pl.explain_picture: hidden,
                pl.explain_note: warning("Select a result first, then “Explain this moment”."),
            }
        try:
            path = self.ctx.explain(m)
        except InputError as e:
            return {pl.explain_picture: hidden, pl.explain_note: warning(str(e))}
        picture = gr.update(value=str(path), visible=True, label=f"Token merging · {m.name}")
        return {pl.explain_picture: picture, pl.explain_note: explain_caption(m)}

    def on_selection_change(self) -> dict:
        pl = self.page.player
        hidden = gr.update(value=None, visible=False)
        return {pl.explain_picture: hidden, pl.explain_note: "", pl.download_file: hidden}

    # -- moments out of the page --------------------------------------------------------------

    def on_download(self, state: SearchState, segment_id) -> dict:
        pl = self.page.player
        try:
            path = self.exports.clip(state.moment(segment_id))
        except InputError as e:
            return {pl.download_file: gr.update(value=None, visible=False), pl.explain_note: warning(str(e))}
        return {pl.download_file: gr.update(value=str(path), visible=True, label=f"Clip · {path.name}")}

    def on_timeline(self, state: SearchState, ticked, fmt) -> dict:
        r = self.page.results
        hits = [state.moments[i] for i in sorted(ticked or ()) if 0 <= int(i) < len(state.moments)]
        text = state.compound.text if state.compound else state.query or ""
        try:
            path = self.exports.timeline(hits, fmt or ".otio", query=text)
        except InputError as e:
            return {r.timeline_file: gr.update(value=None, visible=False), r.message: warning(str(e))}
        label = f"Timeline · {plural(len(hits), 'moment')} ({fmt})"
        return {r.timeline_file: gr.update(value=str(path), visible=True, label=label)}

    # -- adding videos ------------------------------------------------------------------------

    def _first_run(self, arch, weights, weights_file, adapter, confirmed):
        """The encoder chosen on the page while the library has none; None once it has one."""
        if not self.ctx.needs_encoder():
            return None
        return self.ctx.encoder_choice(arch, weights, weights_file, adapter, confirmed)

    def on_add_files(self, files, arch, weights, weights_file, adapter, confirmed, progress=gr.Progress()) -> dict:
        a = self.page.add
        try:
            encoder = self._first_run(arch, weights, weights_file, adapter, confirmed)
            result = self.ctx.upload(files, progress_bar(progress), encoder)
        except InputError as e:
            return {a.message: warning(str(e)), **self._library_view()}
        return {
            a.message: result.summary,
            **self._library_view(),
            a.uploads: None,  # the file list is cleared once they are in
            a.new_videos: [str(v) for v in result.videos],
            a.show_new_btn: gr.update(visible=bool(result.videos)),
            a.first_run: gr.update(visible=self.ctx.needs_encoder()),
        }

    def on_add_folder(self, folder, arch, weights, weights_file, adapter, confirmed, progress=gr.Progress()) -> dict:
        a = self.page.add
        try:
            encoder = self._first_run(arch, weights, weights_file, adapter, confirmed)
            text = self.ctx.add_folder(folder, progress_bar(progress), encoder)
        except InputError as e:
            return {a.message: warning(str(e)), **self._library_view()}
        return {
            a.message: text,
            **self._library_view(),
            a.first_run: gr.update(visible=self.ctx.needs_encoder()),
        }

    def on_arch(self, arch):
        choices = self.ctx.weight_choices(arch)
        return gr.update(choices=choices, value=choices[0][1])

    def on_weights(self, weights) -> dict:
        a, random = self.page.add, weights == RANDOM_WEIGHTS
        return {
            a.weights_file: gr.update(visible=weights == WEIGHTS_FILE),
            a.random_warning: gr.update(visible=random),
            a.random_ok: gr.update(visible=random, value=False),
        }

    # -- the status line, the banner, the modes, the address ---------------------------------

    def _library_view(self) -> dict:
        """What the page says about the library: the status line, the random-weights banner, and
        the match modes it has data for (speech / text once transcripts / on-screen text exist;
        none to choose while it has only pictures) and the folders to filter by."""
        info = self.ctx.info()
        modes = info["modes"]
        return {
            self.page.status: status_html(*self.ctx.status_lines()),
            self.page.banner: gr.update(
                value=banner_text(info["weights_warning"]), visible=bool(info["weights_warning"])
            ),
            self.page.search.mode: gr.update(choices=modes, visible=len(modes) > 2),
            self.page.search.folder: gr.update(choices=self.ctx.folder_choices()),
        }

    def on_load(self, query: str = "", mode: str = "all") -> dict:
        """The page as it opens; with ``?q=…&mode=…`` in its address (``query`` and ``mode``, read
        by keys.js), that search's results too."""
        new = self.ctx.needs_encoder()
        out = {**self._library_view(), self.page.add.first_run: gr.update(visible=new)}
        if new:
            return out | {
                self.page.add.panel: gr.update(open=True),
                self.page.results.message: self.ctx.start_message(),
            }
        out[self.page.results.message] = ""
        if query and query.strip():
            s, modes = self.page.search, self.ctx.info()["modes"]
            mode = mode if mode in modes else "all"
            out |= {s.query: query, s.mode: gr.update(choices=modes, visible=len(modes) > 2, value=mode)}
            out |= self.run_search(query, s.k.value, "", None, None, [], None, None, SearchState(), mode)
        return out

    def on_status(self) -> str:
        return status_html(*self.ctx.status_lines())


def _wire_exports(ev: Events, page: Page) -> None:
    """ "Explain this moment", "Download this moment" and "Timeline for editors"."""
    pl, r = page.player, page.results
    pl.explain_btn.click(
        ev.on_explain,
        [page.state, page.selected],
        [pl.explain_picture, pl.explain_note],
        concurrency_id="explain",
        concurrency_limit=1,
        **PRIVATE,
    )
    page.selected.change(
        ev.on_selection_change, None, [pl.explain_picture, pl.explain_note, pl.download_file], **PRIVATE
    )
    pl.download_btn.click(
        ev.on_download, [page.state, page.selected], [pl.download_file, pl.explain_note], concurrency_id="export",
        concurrency_limit=2, **PRIVATE,
    )  # fmt: skip
    r.timeline_btn.click(
        ev.on_timeline, [page.state, r.ticked, r.timeline_format], [r.timeline_file, r.message],
        concurrency_id="export", **PRIVATE,
    )  # fmt: skip


def wire(demo: gr.Blocks, ctx: AppContext, page: Page, links: Links | None = None) -> None:
    """Attach the handlers of `Events` to the page's components (inside ``demo``'s context)."""
    ev, s, pl, a = Events(ctx, page, links), page.search, page.player, page.add
    _wire_exports(ev, page)
    inputs = [s.query, s.k, *s.filters, page.state, s.mode, s.image, s.sort, s.clip, *s.compound]
    outputs = page.result_outputs
    for trigger in (s.query.submit, s.search_btn.click):
        trigger(ev.run_search, inputs, outputs, **SEARCHING).then(None, [s.query, s.mode], None, js=SET_ADDRESS)
    page.results.more_btn.click(ev.load_more, [page.state], outputs, **SEARCHING)
    # Two steps: Gradio's player resets its position when a new file loads, so the start
    # (playback_position) is set once the file is in place.
    page.results.gallery.select(
        ev.select,
        [page.state],
        [pl.video, pl.span, page.selected, pl.similar_btn, pl.moment, pl.span_start, pl.span_end, pl.span_btn],
        concurrency_limit=4,
        **PRIVATE,
    ).then(ev.seek, [page.state, page.selected], [pl.video], **PRIVATE).then(
        None, [pl.moment, pl.loop], None, js=SET_SPAN, **PRIVATE
    ).then(None, None, None, js=SCROLL_TO_PLAYER)
    pl.loop.change(None, [pl.loop], None, js=SET_LOOP, **PRIVATE)
    pl.similar_btn.click(ev.more_like_this, [page.selected, s.k, *s.filters, page.state], outputs, **SEARCHING)
    span = [page.state, page.selected, pl.span_start, pl.span_end, s.k, *s.filters, s.sort]
    pl.span_btn.click(ev.like_span, span, outputs, **SEARCHING).then(None, None, None, js=SCROLL_TO_RESULTS)
    # a dropped or pasted image, or a dropped clip, searches at once (and replaces the other kind)
    s.image.upload(ev.run_search, inputs, outputs, **SEARCHING).then(lambda: None, None, [s.clip], **PRIVATE)
    clip_in = [s.query, s.k, *s.filters, page.state, s.mode, s.clip, s.sort]
    s.clip.upload(ev.run_clip, clip_in, outputs, **SEARCHING).then(lambda: None, None, [s.image], **PRIVATE)
    pl.span_from_here.click(None, None, [pl.span_start], js=PLAYHEAD, **PRIVATE)
    pl.span_to_here.click(None, None, [pl.span_end], js=PLAYHEAD, **PRIVATE)
    # progress shows in the Add panel (on its message), not over the status line
    library_view = [page.status, page.banner, s.mode, s.folder]
    added = [a.message, *library_view, a.uploads, a.new_videos, a.show_new_btn, a.first_run]
    a.add_btn.click(ev.on_add_files, [a.uploads, *a.encoder_choice], added, show_progress_on=[a.message], **INDEXING)
    a.show_new_btn.click(ev.show_new, [a.new_videos, s.k, page.state], outputs, **SEARCHING).then(
        None, None, None, js=SCROLL_TO_RESULTS
    )
    if a.folder_btn is not None:
        a.folder_btn.click(
            ev.on_add_folder,
            [a.folder_path, *a.encoder_choice],
            [a.message, *library_view, a.first_run],
            show_progress_on=[a.message],
            **INDEXING,
        )
    a.arch.change(ev.on_arch, [a.arch], [a.weights], **PRIVATE)
    a.weights.change(ev.on_weights, [a.weights], [a.weights_file, a.random_warning, a.random_ok], **PRIVATE)
    loaded = [*library_view, a.first_run, a.panel, s.query, *outputs]
    demo.load(ev.on_load, [s.query, s.mode], loaded, js=READ_ADDRESS, **PRIVATE)
    gr.Timer(30).tick(ev.on_status, None, page.status, **PRIVATE)  # indexing by other processes
