"""The page's HTML and text, as plain functions of hits and state (no Gradio).

Result cards, one per video (`group_by_video`), headed by its best moment's picture and caption
("#rank ●●○ · file · start–end of length": the dots are the moment's absolute confidence,
docs/confidence.md), with the video's other matching moments listed under it as clickable
times (like key moments under a video); moments under medium confidence are dimmed; why a
moment matched (`evidence_html`); the sentences above the results (the search's verdict) and
under the player. Counts go through the one `plural`; file names break only between words
(`wrap_name`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

from tempme.app.web.state import SearchState
from tempme.index import GOOD_FROM, Hit, format_clock, format_time, plural, printable, quoted, verdict


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


def confidence_dots(m: Hit) -> str:
    """The moment's confidence as dots, with its level (and p-value) in the tooltip and for
    screen readers: ``●●○`` medium. Unjudged moments (none shown by a search): no dots."""
    if m.confidence is None:
        return ""
    p = f", p = {m.p_value:.3g}" if m.p_value is not None else ""
    return (
        f'<span class="dots conf-{m.confidence.value}" title="{m.confidence.value} confidence{p}" '
        f'aria-label="{m.confidence.value} confidence">{m.confidence.dots}</span>'
    )


def weak(m: Hit) -> bool:
    """Shown dimmed: judged below medium confidence (or not judged by a search at all)."""
    return m.confidence is not None and m.confidence < GOOD_FROM


def wrap_name(name: str) -> str:
    """A file name as HTML that may break after ``_``, ``-``, spaces and before its extension,
    never inside a word or the extension (``structuralize.mp`` / ``4``)."""
    stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    parts = re.split(r"(?<=[_\-\s])", stem)
    return "<wbr>".join(escape(p) for p in parts) + (f"<wbr>.{escape(ext)}" if dot else "")


def warning(text: str) -> str:
    """A message the person must act on (Markdown)."""
    return f"⚠️ {text}"


def file_url(path: str | Path) -> str:
    """The page-relative URL Gradio serves a file under (only allowed paths are served)."""
    return "gradio_api/file=" + quote(str(path))


def _card(g: VideoGroup, scored: bool, picture: Callable[[int], str] | None) -> str:
    """One video's card: its best moment's picture and caption (rank and confidence dots when
    ``scored``), then (when several of its moments are shown) each moment as a clickable time."""
    b = g.indices[g.moments.index(g.best)]
    name = escape(g.best.name)
    src = picture(g.best.segment_id) if picture else file_url(g.best.thumbnail or "")
    pic = (
        f'<img src="{escape(src)}" alt="{name} at {escape(g.best.span)}">'
        if g.best.thumbnail
        else '<span class="nopic" role="img" aria-label="no picture"></span>'
    )
    head = f'<span class="rank">#{g.best.rank}</span> {confidence_dots(g.best)} · ' if scored else ""
    caption = f"{head}{wrap_name(g.best.name)} · {escape(g.best.when)}"
    if g.best.matched != ("visual",):
        caption += f" · {escape(g.best.why)}"
    times = ""
    if len(g.moments) > 1:
        items = "".join(
            f'<li><button class="moment{" best" if i == b else ""}{" weak" if weak(m) else ""}" data-index="{i}" '
            f'data-segment="{m.segment_id}" aria-label="play {name} from {format_clock(m.start_s)}">'
            f"{format_clock(m.start_s)}–{format_clock(m.end_s, up=True)}"
            + (f" {confidence_dots(m)}" if scored else "")
            + "</button></li>"
            for i, m in zip(g.indices, g.moments)
        )
        times = f'<ol class="moments" aria-label="{plural(len(g.moments), "moment")} in {name}">{items}</ol>'
    dim = " weak" if scored and all(weak(m) for m in g.moments) else ""
    return (
        f'<article class="card{dim}" data-video="{g.best.video_id}">'
        f'<button class="pic" data-index="{b}" data-segment="{g.best.segment_id}" '
        f'aria-label="play {name} from {format_clock(g.best.start_s)}">{pic}</button>'
        f'<div class="caption-label">{caption}</div>{times}</article>'
    )


def results_html(moments: list[Hit], scored: bool = True, picture: Callable[[int], str] | None = None) -> str:
    """The result cards: one per video (`group_by_video`), headed by its best moment's picture
    and caption (``#1 ●●○ · file · 0:41–0:44 of 0:55``; without rank and dots when not
    ``scored``), then, when several of its moments are shown, each as a clickable time with its
    dots. A card whose moments are all under medium confidence is dimmed (class ``weak``).
    Every clickable element carries ``data-index``, the moment's position in ``moments``.
    ``picture(segment_id)``: the URL of a moment's picture (the API's signed thumbnail link);
    None: the thumbnail file through Gradio."""
    if not moments:
        return ""
    cards = "".join(_card(g, scored, picture) for g in group_by_video(moments))
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


def searched(state: SearchState) -> str:
    """What the shown results are for, in words: ``“a dog”``, ``“a” then (within 10 s) “b”``,
    ``moments like the image + “at night”`` or ``moments like clip.mp4 at 0:41``."""
    if state.compound is not None:
        return state.compound.text  # “a” then (within 10 s) “b”
    if state.query is not None and state.image is None and state.clip is None and state.span is None:
        return quoted(state.query)
    return f"moments {state.what}"  # like the image + “at night”, like clip.mp4 0:10.0–0:14.0, ...


def found_message(state: SearchState, new: int) -> str:
    """The sentence above the results: the search's verdict (good matches, or "no good match"
    with the closest moments shown dimmed) and how many moments are shown (``new``: how many
    the last request returned, to tell whether more can come)."""
    n = len(state.moments)
    if state.new_videos:
        names = ", ".join(printable(p.name) for p in state.new_videos[:5]) + (" …" if len(state.new_videos) > 5 else "")
        if not n:
            return f"No moments of {names} (they may have been removed)."
        return f"{plural(n, 'moment')} of {plural(len(state.new_videos), 'video')} just added ({names}). Select one to play it."
    if not n:
        return f"No moments for {searched(state)}" + ("" if state.filters.empty else " with these filters") + "."
    v = verdict(searched(state), state.moments)
    last = new != state.k  # fewer than asked for: no more to load
    if v.found:
        more = ", no more results" if last else ""
        return f"**{v.message}** ({plural(n, 'moment')} shown{more}). Select one to play it."
    more = " (no more results)" if last else ""
    return f"**{v.message[0].upper() + v.message[1:]}.** The closest {plural(n, 'moment')}, dimmed{more}:"


def moment_caption(m: Hit, scored: bool = True) -> str:
    """Under the player: the selected moment's file, span, rank, confidence and score, path, and
    why it matched."""
    conf = f", {m.confidence.value} confidence" if m.confidence is not None else ""
    score = f" · result {m.rank} (score {m.score:.3f}{conf})" if scored else ""
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


def md_inline(text: str) -> str:
    """HTML of one-line Markdown as the status writes it: escaped, bold (double stars), code
    (backticks), and a line break for a trailing-two-spaces newline."""
    html = escape(text)
    html = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html)
    html = re.sub(r"`(.+?)`", r"<code>\1</code>", html)
    return html.replace("  \n", "<br>").replace("\n", " ")


def status_html(short: str, full: str) -> str:
    """The status collapsed to one line (``short``); a tap opens the rest (``full``)."""
    return f'<details class="status-line"><summary>{md_inline(short)}</summary><div>{md_inline(full)}</div></details>'


def banner_text(warning_text: str | None) -> str:
    """The banner over the page for a library whose results cannot mean anything."""
    if not warning_text:
        return ""
    return f"⚠️ **Random weights:** {warning_text}."
