"""The Gradio page: a thin shell over `app.handlers` (every decision is made there).

Layout: status line; query box (Enter searches), K and filters (folder, duration range, file
type); the results as cards, one per video, its best moment's picture captioned
"match · file · start–end of length" and, when several moments of the video matched, those
moments listed under it as clickable times (like key moments under a video), with "load
more"; a player that opens the selected moment at its `start_s` (gr.Video's
`playback_position`), the span marked on its timeline and shown under it, stopping at the
moment's end or looping it (`PLAYER_JS`), and "more like this"; an "add videos" panel (upload,
or a server folder when allowed; for a library without an encoder, the encoder to start it
with), whose result offers "Show new videos".

API (gradio_client): ``/search`` (query, k, folder, min_duration_s, max_duration_s,
extensions) -> list of hit dicts; ``/similar`` (segment_id, k) -> list of hit dicts;
``/add`` (files) -> summary text; ``/add_folder`` (path) when the server allows it;
``/status`` -> the status line.
"""

from __future__ import annotations

import logging
from html import escape
from pathlib import Path
from urllib.parse import quote

import gradio as gr
from tempme.app.handlers import (
    ARCHITECTURES,
    MAX_K,
    RANDOM_WEIGHTS,
    SEARCH_MODES,
    WEIGHTS_FILE,
    AppContext,
    Hit,
    InputError,
    SearchState,
    evidence_html,
    format_time,
    group_by_video,
    make_filters,
)
from tempme.index import format_clock

logger = logging.getLogger(__name__)

EXTENSION_CHOICES = [".mp4", ".mkv", ".webm", ".mov", ".avi"]  # the common ones of index.files.VIDEO_EXTENSIONS
CSS = """
#status {font-size: 0.9em; opacity: 0.85}
#message p {margin: 0.2em 0}
#evidence mark, #span mark {background: #ffe066; padding: 0 0.15em; border-radius: 0.2em}
#evidence ol {margin: 0.3em 0 0 1.2em}
/* result cards, one per video: the picture whole, the caption under it (never over it), then the
   video's other matching moments as a list of times (key moments) */
#results .cards {display: grid; gap: 0.8rem; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr))}
@media (max-width: 600px) { #results .cards {grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0.5rem} }
#results .card {display: flex; flex-direction: column; border-radius: 0.5rem; padding: 0.25rem;
  border: 1px solid var(--border-color-primary)}
#results .card.selected {border-color: var(--color-accent); box-shadow: 0 0 0 2px var(--color-accent)}
#results button {font: inherit; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; text-align: left}
#results .pic img, #results .pic .nopic {display: block; width: 100%; aspect-ratio: 16 / 9; object-fit: cover;
  border-radius: 0.35rem; background: #222}
#results .caption-label {font-size: 0.85em; padding: 0.3em 0.1em 0; overflow-wrap: anywhere}
#results .moments {list-style: none; margin: 0.3em 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 0.25em}
#results .moments li {margin: 0 !important; padding: 0 !important; line-height: 1.3}
#results .moment {font-size: 0.8em; padding: 0.1em 0.45em !important; border-radius: 1em !important;
  background: var(--background-fill-secondary) !important; font-variant-numeric: tabular-nums}
#results .moment.selected {background: var(--color-accent) !important; color: white}
#results .pic:focus-visible, #results .moment:focus-visible {outline: 2px solid var(--color-accent)}
#results .dots {letter-spacing: -0.05em}
#player .tempme-span {position: absolute; background: rgba(255, 200, 0, 0.6); pointer-events: none; border-radius: 2px}
/* the player follows the results on wide screens */
@media (min-width: 900px) { #player-col {position: sticky; top: 0.5rem; align-self: flex-start} }
#random-warning {border-left: 4px solid #d33; padding-left: 0.6em}
"""
# after a tap, bring the player into view (on a phone it sits below the results)
SCROLL_TO_PLAYER = "() => { const p = document.querySelector('#player'); if (p) p.scrollIntoView({block: 'start'}); }"
SCROLL_TO_RESULTS = "() => { const r = document.querySelector('#results'); if (r) r.scrollIntoView({block: 'start'}); }"
# a click on a picture or a time selects that moment (gr.SelectData: index in the flat result list)
RESULTS_JS = """
element.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-index]');
  if (!b || !element.contains(b)) return;
  element.querySelectorAll('.selected').forEach((x) => x.classList.remove('selected'));
  b.classList.add('selected');
  b.closest('.card').classList.add('selected');
  trigger('select', {index: Number(b.dataset.index), value: Number(b.dataset.segment)});
});
"""
PLAYER_JS = """() => {
  // The player (gr.Video #player) and the selected moment's span {start, end, duration}:
  // - the span is marked on the player's timeline (a bar over its <progress>);
  // - at the span's end playback stops, or jumps back to its start when "loop" is on (only when
  //   playing across the end: a seek past it is the person's choice);
  // - on narrow screens (phones) a new video starts muted; on desktop the click that chose the
  //   moment starts it with sound.
  if (window.tempmePlayer) return;
  const P = (window.tempmePlayer = {span: null, loop: false});
  const narrow = () => window.matchMedia('(max-width: 600px)').matches;
  const ours = (v) => v instanceof HTMLVideoElement && v.closest('#player');
  const mark = (v) => {
    const bar = v.closest('#player').querySelector('progress');
    if (!bar) return;
    let m = bar.parentElement.querySelector('.tempme-span');
    const s = P.span;
    const d = isFinite(v.duration) && v.duration > 0 ? v.duration : s && s.duration;
    if (!s || !d) { if (m) m.remove(); return; }
    if (!m) {
      m = document.createElement('div');
      m.className = 'tempme-span';
      m.title = 'the matched moment';
      bar.parentElement.appendChild(m);
    }
    bar.parentElement.style.position = 'relative';
    m.style.left = bar.offsetLeft + (bar.offsetWidth * s.start) / d + 'px';
    m.style.width = Math.max(3, (bar.offsetWidth * (s.end - s.start)) / d) + 'px';
    m.style.top = bar.offsetTop + 'px';
    m.style.height = Math.max(4, bar.offsetHeight) + 'px';
  };
  document.addEventListener('loadstart', (e) => { if (ours(e.target) && narrow()) e.target.muted = true; }, true);
  document.addEventListener('loadedmetadata', (e) => { if (ours(e.target)) mark(e.target); }, true);
  document.addEventListener('timeupdate', (e) => {
    const v = e.target, s = P.span;
    if (!ours(v) || !s) return;
    const t = v.currentTime, prev = v.tempmePrev === undefined ? t : v.tempmePrev;
    v.tempmePrev = t;
    if (prev < s.end && t >= s.end && t - prev < 1.5) {
      if (P.loop) { v.currentTime = s.start; v.tempmePrev = s.start; } else v.pause();
    }
  }, true);
  document.addEventListener('ended', (e) => {
    const v = e.target;
    if (ours(v) && P.span && P.loop) { v.currentTime = P.span.start; v.play(); }
  }, true);
  window.addEventListener('resize', () => { const v = document.querySelector('#player video'); if (v) mark(v); });
  P.set = (span, loop) => {
    P.span = span || null;
    P.loop = !!loop;
    const v = document.querySelector('#player video');
    if (v) { v.tempmePrev = undefined; mark(v); }
  };
}"""
SET_SPAN = "(span, loop) => { if (window.tempmePlayer) window.tempmePlayer.set(span, loop); }"
SET_LOOP = "(loop) => { if (window.tempmePlayer) window.tempmePlayer.loop = !!loop; }"
RANDOM_WARNING = (
    "⚠️ **Random weights: every search result will be meaningless.** The videos are encoded by an "
    "untrained network, and the library keeps that encoder for good (start a new library to change "
    "it). Use them only for a quick test, e.g. with `tempme-tiny`."
)
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


def file_url(path: str | Path) -> str:
    """The page-relative URL Gradio serves a file under (only allowed paths are served)."""
    return "gradio_api/file=" + quote(str(path))


def results_html(moments: list[Hit], scored: bool = True) -> str:
    """The result cards: one per video (`group_by_video`), headed by its best moment's picture
    and caption (``●●●●○ · file · 0:41–0:44 of 0:55``; without dots when not ``scored``), then,
    when several of its moments are shown, each as a clickable time with its match dots.
    Every clickable element carries ``data-index``, the moment's position in ``moments``."""
    if not moments:
        return ""
    scores = [m.score for m in moments]
    best, worst = max(scores), min(scores)

    def dots(m: Hit) -> str:
        return f'<span class="dots" title="score {m.score:.3f}">{match_dots(m.score, best, worst)}</span> · '

    cards = []
    for g in group_by_video(moments):
        b = g.indices[g.moments.index(g.best)]
        name = escape(g.best.name)
        pic = (
            f'<img src="{escape(file_url(g.best.thumbnail))}" alt="{name} at {escape(g.best.span)}">'
            if g.best.thumbnail
            else '<span class="nopic" role="img" aria-label="no picture"></span>'
        )
        caption = f"{dots(g.best) if scored else ''}{name} · {escape(g.best.when)}"
        if g.best.matched != ("visual",):
            caption += f" · {escape(g.best.why)}"
        times = ""
        if len(g.moments) > 1:
            items = "".join(
                f'<li><button class="moment{" best" if i == b else ""}" data-index="{i}" data-segment="{m.segment_id}" '
                f'aria-label="play {name} from {format_clock(m.start_s)}">'
                f"{format_clock(m.start_s)}–{format_clock(m.end_s, up=True)}"
                + (f" {dots(m)[:-3]}" if scored else "")
                + "</button></li>"
                for i, m in zip(g.indices, g.moments)
            )
            times = f'<ol class="moments" aria-label="{len(g.moments)} moments in {name}">{items}</ol>'
        cards.append(
            f'<article class="card" data-video="{g.best.video_id}">'
            f'<button class="pic" data-index="{b}" data-segment="{g.best.segment_id}" '
            f'aria-label="play {name} from {format_clock(g.best.start_s)}">{pic}</button>'
            f'<div class="caption-label">{caption}</div>{times}</article>'
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def _evidence(moments: list[Hit]) -> str:
    """Under the cards: each moment's rank, file and why it matched, matched words highlighted
    (only for moments found by speech or on-screen text)."""
    rows = [
        f"<li><b>{escape(m.name)}</b> {m.span}: {evidence_html(m)}</li>" for m in moments if m.matched != ("visual",)
    ]
    return f"<ol>{''.join(rows)}</ol>" if rows else ""


def _found(state: SearchState, new: int) -> str:
    if state.new_videos:
        names = ", ".join(p.name for p in state.new_videos[:5]) + (" …" if len(state.new_videos) > 5 else "")
        if not state.moments:
            return f"No moments of {names} (they may have been removed)."
        return f"{len(state.moments)} moments of the videos just added ({names}). Select one to play it."
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

    def _results(moments, scored=True):
        return results_html(moments, scored)

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
            _results(state.moments),
            state,
            _found(state, len(new)),
            gr.update(visible=len(new) == state.k),
            _evidence(state.moments),
            *_kept(),
        )

    def select(state: SearchState, evt: gr.SelectData):
        index = evt.index if isinstance(evt.index, int) else -1
        if not state.moments or not 0 <= index < len(state.moments):
            return gr.skip(), _message("Select a result first.", ok=False), None, gr.skip(), None
        m = state.moments[index]
        try:
            path = ctx.playable(m)
        except InputError as e:
            return gr.skip(), _message(str(e), ok=False), None, gr.skip(), None
        score = "" if state.new_videos else f" · result {m.rank} (score {m.score:.3f})"
        span = f"**{m.name}** · moment {m.when}{score}  \n`{m.path}`" + (
            f"  \n{evidence_html(m)}" if m.matched != ("visual",) else ""
        )
        video = gr.Video(
            value=str(path),
            playback_position=m.seek_s,  # the first matched word, else the moment's start
            subtitles=[{"text": f"matched moment {m.span}", "timestamp": [m.start_s, m.end_s]}],
            label=f"{m.name} @ {format_time(m.start_s)}",
        )
        moment = {"start": m.start_s, "end": m.end_s, "duration": m.duration_s}
        return video, span, m.segment_id, gr.update(interactive=True), moment

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

    def show_new(videos, k, state: SearchState):
        try:
            moments = ctx.new_moments(videos or ())
        except InputError as e:
            return gr.skip(), state, _message(str(e), ok=False), gr.skip(), gr.skip(), *_kept()
        state = SearchState(new_videos=tuple(Path(v) for v in videos or ()), k=state.k, moments=moments)
        return (
            _results(moments, scored=False),
            state,
            _found(state, 0),
            gr.update(visible=False),
            "",
            *_cleared(),
        )

    def _progress_cb(progress: gr.Progress):
        def cb(done: int, total: int, name: str) -> None:
            desc = f"indexed {Path(str(name)).name}" if name else "loading the encoder"
            progress((done, total), desc=desc, unit="videos")

        return cb

    def _first_run(arch, weights, weights_file, adapter, confirmed):
        """The encoder chosen on the page while the library has none; None once it has one."""
        if not ctx.needs_encoder():
            return None
        return ctx.encoder_choice(arch, weights, weights_file, adapter, confirmed)

    def on_add_files(files, arch, weights, weights_file, adapter, confirmed, progress=gr.Progress()):
        try:
            encoder = _first_run(arch, weights, weights_file, adapter, confirmed)
            result = ctx.upload(files, _progress_cb(progress), encoder)
        except InputError as e:
            return _message(str(e), ok=False), ctx.status(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return (
            _message(result.summary),
            ctx.status(),
            None,  # the file list is cleared once they are in
            [str(v) for v in result.videos],
            gr.update(visible=bool(result.videos)),
            gr.update(visible=ctx.needs_encoder()),
        )

    def on_add_folder(folder, arch, weights, weights_file, adapter, confirmed, progress=gr.Progress()):
        try:
            encoder = _first_run(arch, weights, weights_file, adapter, confirmed)
            text = ctx.add_folder(folder, _progress_cb(progress), encoder)
        except InputError as e:
            return _message(str(e), ok=False), ctx.status(), gr.skip()
        return _message(text), ctx.status(), gr.update(visible=ctx.needs_encoder())

    def on_arch(arch):
        choices = ctx.weight_choices(arch)
        return gr.update(choices=choices, value=choices[0][1])

    def on_weights(weights):
        random = weights == RANDOM_WEIGHTS
        return (
            gr.update(visible=weights == WEIGHTS_FILE),
            gr.update(visible=random),
            gr.update(visible=random, value=False),
        )

    def on_load():
        new = ctx.needs_encoder()
        return (
            ctx.status(),
            gr.update(visible=new),
            gr.update(open=True) if new else gr.skip(),
            ctx.start_message() if new else "",
        )

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
                # custom cards (one per video, its moments beneath): gr.Gallery has one tile per item
                gallery = gr.HTML("", elem_id="results", js_on_load=RESULTS_JS, padding=False)
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
                loop = gr.Checkbox(
                    value=False, label="Loop the moment (off: stop at its end)", elem_id="loop", container=False
                )
                span = gr.Markdown(elem_id="span")
                moment = gr.JSON(visible=False)  # {start, end, duration} of the selected moment, for PLAYER_JS
                # a slot for "why it matched" (matched words of speech / on-screen text) goes here
                similar_btn = gr.Button("More like this", elem_id="more-like-this", interactive=False)
                explain_panel(ctx, state, selected)
        with gr.Accordion("Add videos", open=False, elem_id="add-panel") as add_panel:
            with gr.Group(visible=False, elem_id="first-run") as first_run:
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
                first_weights = ctx.weight_choices(ARCHITECTURES[0])
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
                    label="Adapter folder on the server (optional)",
                    placeholder="/models/tempme-adapter",
                    elem_id="adapter",
                )
                random_warning = gr.Markdown(RANDOM_WARNING, visible=False, elem_id="random-warning")
                random_ok = gr.Checkbox(
                    label="I understand: with random weights every result is meaningless",
                    visible=False,
                    elem_id="random-ok",
                )
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
            new_videos = gr.State([])
            show_new_btn = gr.Button("Show new videos", visible=False, elem_id="show-new")

        inputs = [query, k, folder, min_d, max_d, exts, state, mode]
        outputs = [gallery, state, message, more_btn, evidence, player, span, selected, similar_btn]
        private = {"api_visibility": "private"}
        searching = {"concurrency_id": "search", "concurrency_limit": 4, **private}
        query.submit(run_search, inputs, outputs, **searching)
        search_btn.click(run_search, inputs, outputs, **searching)
        more_btn.click(load_more, [state], outputs, **searching)
        # Two steps: Gradio's player resets its position when a new file loads, so the start
        # (playback_position) is set once the file is in place.
        gallery.select(
            select, [state], [player, span, selected, similar_btn, moment], concurrency_limit=4, **private
        ).then(seek, [state, selected], [player], **private).then(
            None, [moment, loop], None, js=SET_SPAN, **private
        ).then(None, None, None, js=SCROLL_TO_PLAYER)
        loop.change(None, [loop], None, js=SET_LOOP, **private)
        similar_btn.click(more_like_this, [selected, k, folder, min_d, max_d, exts, state], outputs, **searching)
        # progress shows in the Add panel (on its message), not over the status line
        choice = [arch, weights, weights_file, adapter, random_ok]
        add_btn.click(
            on_add_files,
            [uploads, *choice],
            [add_msg, status_md, uploads, new_videos, show_new_btn, first_run],
            concurrency_id="index",
            show_progress_on=[add_msg],
            **private,
        )
        show_new_btn.click(show_new, [new_videos, k, state], outputs, **searching).then(
            None, None, None, js=SCROLL_TO_RESULTS
        )
        if ctx.allow_folder_add:
            folder_btn.click(
                on_add_folder,
                [folder_path, *choice],
                [add_msg, status_md, first_run],
                concurrency_id="index",
                show_progress_on=[add_msg],
                **private,
            )
        arch.change(on_arch, [arch], [weights], **private)
        weights.change(on_weights, [weights], [weights_file, random_warning, random_ok], **private)
        demo.load(on_load, None, [status_md, first_run, add_panel, message], **private)
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
