"""The page's HTML and text, as plain functions of hits and state (no Gradio).

Result cards, one per video (`group_by_video`), headed by its best moment's picture and caption
("match · file · start–end of length"), with the video's other matching moments listed under it
as clickable times (like key moments under a video); why a moment matched (`evidence_html`);
the sentences above the results and under the player.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

from tempme.app.web.state import SearchState
from tempme.index import Hit, format_clock, format_time, printable

MATCH_DOTS = 5


@dataclass(frozen=True)
class VideoGroup:
    """The moments of one video among the results, shown together (like key moments under a
    video): ``moments`` in time order, ``indices`` their positions in the flat result list (what
    a click selects), ``best`` the best-ranked of them (its picture heads the card)."""

    best: Hit
    moments: tuple[Hit, ...]
    indices: tuple[int, ...]


def group_by_video(hits: list[Hit]) -> list[VideoGroup]:
    """Group ranked hits by video: groups in the order of their best hit, moments in time order.
    Every hit is in exactly one group; nothing is dropped or reordered across videos' best hits."""
    by_video: dict[int, list[int]] = {}
    for i, h in enumerate(hits):
        by_video.setdefault(h.video_id, []).append(i)
    groups = []
    for idx in by_video.values():  # dicts keep insertion order: the order of each video's best hit
        in_time = sorted(idx, key=lambda i: (hits[i].start_s, hits[i].end_s))
        groups.append(VideoGroup(hits[idx[0]], tuple(hits[i] for i in in_time), tuple(in_time)))
    return groups


def match_dots(score: float, best: float, worst: float) -> str:
    """A relative match indicator for one result among those shown: 5 filled dots for the best,
    1 for the worst (``●●●○○``); raw cosines have no scale a person can read."""
    if best - worst <= 1e-9:
        n = MATCH_DOTS
    else:
        n = 1 + round((MATCH_DOTS - 1) * (score - worst) / (best - worst))
    return "●" * n + "○" * (MATCH_DOTS - n)


def warning(text: str) -> str:
    """A message the person must act on (Markdown)."""
    return f"⚠️ {text}"


def file_url(path: str | Path) -> str:
    """The page-relative URL Gradio serves a file under (only allowed paths are served)."""
    return "gradio_api/file=" + quote(str(path))


def _card(g: VideoGroup, dots, picture: Callable[[int], str] | None) -> str:
    """One video's card: its best moment's picture and caption, then (when several of its
    moments are shown) each moment as a clickable time."""
    b = g.indices[g.moments.index(g.best)]
    name = escape(g.best.name)
    src = picture(g.best.segment_id) if picture else file_url(g.best.thumbnail or "")
    pic = (
        f'<img src="{escape(src)}" alt="{name} at {escape(g.best.span)}">'
        if g.best.thumbnail
        else '<span class="nopic" role="img" aria-label="no picture"></span>'
    )
    caption = f"{dots(g.best)} · {name} · {escape(g.best.when)}" if dots else f"{name} · {escape(g.best.when)}"
    if g.best.matched != ("visual",):
        caption += f" · {escape(g.best.why)}"
    times = ""
    if len(g.moments) > 1:
        items = "".join(
            f'<li><button class="moment{" best" if i == b else ""}" data-index="{i}" data-segment="{m.segment_id}" '
            f'aria-label="play {name} from {format_clock(m.start_s)}">'
            f"{format_clock(m.start_s)}–{format_clock(m.end_s, up=True)}"
            + (f" {dots(m)}" if dots else "")
            + "</button></li>"
            for i, m in zip(g.indices, g.moments)
        )
        times = f'<ol class="moments" aria-label="{len(g.moments)} moments in {name}">{items}</ol>'
    return (
        f'<article class="card" data-video="{g.best.video_id}">'
        f'<button class="pic" data-index="{b}" data-segment="{g.best.segment_id}" '
        f'aria-label="play {name} from {format_clock(g.best.start_s)}">{pic}</button>'
        f'<div class="caption-label">{caption}</div>{times}</article>'
    )


def results_html(moments: list[Hit], scored: bool = True, picture: Callable[[int], str] | None = None) -> str:
    """The result cards: one per video (`group_by_video`), headed by its best moment's picture
    and caption (``●●●●○ · file · 0:41–0:44 of 0:55``; without dots when not ``scored``), then,
    when several of its moments are shown, each as a clickable time with its match dots.
    Every clickable element carries ``data-index``, the moment's position in ``moments``.
    ``picture(segment_id)``: the URL of a moment's picture (the API's signed thumbnail link);
    None: the thumbnail file through Gradio."""
    if not moments:
        return ""
    scores = [m.score for m in moments]
    best, worst = max(scores), min(scores)

    def dots(m: Hit) -> str:
        return f'<span class="dots" title="score {m.score:.3f}">{match_dots(m.score, best, worst)}</span>'

    cards = "".join(_card(g, dots if scored else None, picture) for g in group_by_video(moments))
    return f'<div class="cards">{cards}</div>'


def evidence_html(hit: Hit) -> str:
    """Why a hit matched, as HTML for the page: the utterance with the matched words in
    ``<mark>`` (each with its time), the on-screen line in ``<mark>``, the visual score."""
    parts = []
    if hit.transcript:
        marked = {w.word.casefold() for w in hit.words}
        said = " ".join(
            f"<mark>{escape(t)}</mark>" if t.casefold() in marked else escape(t) for t in hit.transcript.split()
        )
        times = ", ".join(f"{escape(w.word)} {format_time(w.start_s)}" for w in hit.words)
        parts.append(f"🗣 “{said}”" + (f" <small>({times})</small>" if times else ""))
    if hit.ocr_text:
        parts.append(f"🔤 <mark>{escape(hit.ocr_text)}</mark>")
    if hit.visual_score is not None:
        parts.append(f"👁 {hit.visual_score:.3f}")
    return " · ".join(parts)


def evidence_list(moments: list[Hit]) -> str:
    """Under the cards: each moment's rank, file and why it matched, matched words highlighted
    (only for moments found by speech or on-screen text)."""
    rows = [
        f"<li><b>{escape(m.name)}</b> {m.span}: {evidence_html(m)}</li>" for m in moments if m.matched != ("visual",)
    ]
    return f"<ol>{''.join(rows)}</ol>" if rows else ""


def found_message(state: SearchState, new: int) -> str:
    """The sentence above the results: how many moments of what, and whether more can come
    (``new``: how many the last request returned)."""
    if state.new_videos:
        names = ", ".join(printable(p.name) for p in state.new_videos[:5]) + (" …" if len(state.new_videos) > 5 else "")
        if not state.moments:
            return f"No moments of {names} (they may have been removed)."
        return f"{len(state.moments)} moments of the videos just added ({names}). Select one to play it."
    what = f"“{state.query}”" if state.query is not None else f"moments like {state.similar_label}"
    what = state.compound.text if state.compound is not None else what  # “a” then (within 10 s) “b”
    if not state.moments:
        return f"No moments match {what}" + ("" if state.filters.empty else " with these filters") + "."
    more = "" if new == state.k else " (no more results)"
    return f"{len(state.moments)} moments for {what}{more}. Select one to play it."


def moment_caption(m: Hit, scored: bool = True) -> str:
    """Under the player: the selected moment's file, span, rank and score, path, and why it matched."""
    score = f" · result {m.rank} (score {m.score:.3f})" if scored else ""
    why = f"  \n{evidence_html(m)}" if m.matched != ("visual",) else ""
    return f"**{m.name}** · moment {m.when}{score}  \n`{m.shown}`{why}"


def similar_label(m: Hit | None) -> str:
    """The source of "more like this", for people: ``clip.mp4 at 0:41``."""
    return f"{m.name} at {format_clock(m.start_s)}" if m else "the selected moment"


def explain_caption(m: Hit) -> str:
    """What the explain picture shows, under it."""
    return (
        f"How TempMe merged the tokens of **{m.name}** {m.when}: the 12 frames it sampled; each colour "
        "is one token after the last merge (ClipMe merges across frames, so a colour can recur); "
        "uncoloured patches are still tokens of their own."
    )
