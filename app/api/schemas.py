"""The API's schema: Pydantic models of what goes in and out (OpenAPI at ``/api/v1/openapi.json``).

Every field says its unit. A search request is one :class:`SearchRequest` (a JSON body for
``POST /search``, query parameters for ``GET /search``); a hit is one :class:`HitModel`, built
from ``Hit.to_dict()`` (the same fields as ``tempme search --json``). New fields go on these two
(tests/test_api.py checks that the hit schema names every key of ``Hit.to_dict()``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tempme.app.validate import MAX_K, MAX_QUERY_CHARS, InputError, clean_k, clean_query
from tempme.index import SEARCH_MODES, SORT_ORDERS, Hit

MAX_OFFSET = 10_000
"""Deepest result a search pages to (``offset + k``)."""
ModeName = Literal[tuple(SEARCH_MODES)]  # type: ignore[valid-type]
SortName = Literal[tuple(SORT_ORDERS)]  # type: ignore[valid-type]
MAX_ID = 2**63 - 1


class Filters(BaseModel):
    """Which videos a search may return (all optional)."""

    model_config = ConfigDict(extra="forbid")

    folder: str | None = Field(
        None,
        max_length=4096,
        description="Only videos in folders matching this, as typed (holiday finds "
        ".../holiday 2023/; case-insensitive, no wildcards); an absolute path: that folder and those inside it.",
    )
    min_duration_s: float | None = Field(None, ge=0, le=1e9, description="Shortest video, in seconds.")
    max_duration_s: float | None = Field(None, ge=0, le=1e9, description="Longest video, in seconds.")
    extensions: list[str] = Field(
        default_factory=list, max_length=32, description='File types, e.g. [".mp4", "webm"] (case-insensitive).'
    )
    after: str | None = Field(
        None, max_length=64, description="Only videos recorded on or after this date (2024-06-01, ISO 8601; "
        "no offset: the server's local time).",
    )  # fmt: skip
    before: str | None = Field(None, max_length=64, description="Only videos recorded before this date (as after).")


class Paging(Filters):
    """How many results and from where."""

    k: int = Field(10, ge=1, le=MAX_K, description=f"Results per page (1 to {MAX_K}).")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Results to skip (paging: the next page is offset + k).")

    @field_validator("k", mode="before")
    @classmethod
    def _k(cls, value):
        try:
            return clean_k(value)
        except InputError as e:
            raise ValueError(str(e)) from None


class SearchRequest(Paging):
    """A search: the query (words), an example (an image or clip uploaded as multipart
    ``image`` / ``clip``, or a span of a library video: ``video_id`` or ``segment_id``) refined
    by the words when both are given, how to match and order it, how many results, the filters."""

    query: str | None = Field(
        None, min_length=1, max_length=MAX_QUERY_CHARS,
        description="What to look for, in words (whitespace collapsed); with an example: how to refine it.",
    )  # fmt: skip
    sort: SortName = Field(
        "relevance",
        description="relevance, or date / date-asc (recording date), duration / duration-asc: the moments above "
        "a score cutoff among the 200 most relevant, ordered.",
    )
    video_id: int | None = Field(
        None, ge=0, le=MAX_ID, description="Search by example: a span of this library video (start_s, end_s; "
        "default the whole video); the video itself is left out unless include_self.",
    )  # fmt: skip
    segment_id: int | None = Field(
        None,
        ge=0,
        le=MAX_ID,
        description="Search by example: like this moment (its stored vector), its video left out.",
    )
    start_s: float | None = Field(None, ge=0, le=1e9, description="The example span's start, in seconds.")
    end_s: float | None = Field(None, ge=0, le=1e9, description="The example span's end, in seconds.")
    include_self: bool = Field(False, description="Let a library example's own video be in the results.")
    text_weight: float | None = Field(
        None, ge=0, le=1, description="Weight of the words against the example (default 0.65; 0: the example only)."
    )
    mode: ModeName = Field(
        "all",
        description="all (fused by reciprocal rank fusion), visual (TempMe vectors), speech (transcripts) "
        "or text (on-screen text).",
    )
    per_video: bool = Field(False, description="Only each video's best moment.")

    @field_validator("query", mode="before")
    @classmethod
    def _query(cls, value):
        try:
            return clean_query(value)
        except InputError as e:
            raise ValueError(str(e)) from None


MAX_PARTS = 4
"""Most parts a compound query may have (each part is a search of its own)."""
MAX_TIMELINE_MOMENTS = 200
"""Most moments one timeline takes."""


class PartRequest(BaseModel):
    """A later part of a compound query ("a goal" *then* "crowd cheers"): its text, its mode and
    how it relates in time to the part before it."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, description="What this part looks for.")
    mode: ModeName | None = Field(None, description="How this part is matched (null: the search's mode).")
    relation: Literal["then", "while"] = Field(
        "then",
        description="then: this part's moment starts 0 to within_s seconds after the previous part's ends; "
        "while: the two moments overlap in time.",
    )
    within_s: float = Field(10.0, ge=0, le=3600, description="The most seconds between the parts (then only).")

    @field_validator("query", mode="before")
    @classmethod
    def _query(cls, value):
        return SearchRequest._query(value)


class CompoundSearchRequest(SearchRequest):
    """A search whose ``query`` / ``mode`` are the first part of a compound query when ``parts``
    is not empty (``POST /search`` only; each part is searched alone and the parts' hits are
    joined within a video and ranked by reciprocal rank fusion over the parts' ranks)."""

    parts: list[PartRequest] = Field(
        default_factory=list,
        max_length=MAX_PARTS - 1,
        description=f"Later parts of a compound query, in order (at most {MAX_PARTS - 1}); empty: a plain search.",
    )


class MomentSpan(BaseModel):
    """A hit's own span in the video of its segment (a speech or compound hit is not its segment's span)."""

    model_config = ConfigDict(extra="forbid")

    segment_id: int
    start_s: float = Field(ge=0, description="Start in the video, in seconds (a hit's start_s).")
    end_s: float = Field(gt=0, description="End (exclusive), in seconds (a hit's end_s).")


class TimelineRequest(BaseModel):
    """Moments to put on one timeline, in the order given."""

    model_config = ConfigDict(extra="forbid")

    segment_ids: list[int | MomentSpan] = Field(
        ...,
        min_length=1,
        max_length=MAX_TIMELINE_MOMENTS,
        description="The moments: a hit's segment_id (the segment's span), or {segment_id, start_s, end_s} "
        "(the hit's own span, e.g. a compound hit's joined span).",
    )
    format: Literal["otio", "edl"] = Field("otio", description="otio (OpenTimelineIO JSON) or edl (CMX 3600).")
    order: Literal["result", "time"] = Field(
        "result", description="Clip order: result (as given) or time (by video, then start)."
    )
    query: str = Field("", max_length=1000, description="Named by the timeline's markers (e.g. the search).")


class SimilarRequest(Paging):
    """More like a moment: how many results and the filters."""


class Word(BaseModel):
    word: str
    start_s: float = Field(description="Where the word starts on the video's clock, in seconds.")
    end_s: float = Field(description="Where it ends, in seconds.")


class HitModel(BaseModel):
    """One moment found: ``Hit.to_dict()``."""

    rank: int = Field(description="1-based rank across pages.")
    score: float = Field(
        description="What ranked it: cosine similarity (visual), full-text relevance (speech, text) or the "
        "reciprocal-rank-fusion score (all)."
    )
    video: str = Field(description="The video file's path on the server.")
    start_s: float = Field(description="Start of the moment, in seconds.")
    end_s: float = Field(description="End of the moment (exclusive), in seconds.")
    segment_id: int = Field(description="The moment's best segment (for /moments/{segment_id}).")
    video_id: int = Field(description="The video (for /videos/{video_id}/stream).")
    duration_s: float = Field(description="Length of the whole video, in seconds.")
    seek_s: float = Field(description="Where a player should start: the first matched word, else start_s (s).")
    matched: list[str] = Field(description="The ranked lists that found it: visual, speech, text.")
    visual_score: float | None = Field(None, description="Cosine similarity, when the vector search found it.")
    words: list[Word] = Field(default_factory=list, description="Spoken words that matched, with their times.")
    transcript: str | None = Field(None, description="The utterance the words are in.")
    ocr_text: str | None = Field(None, description="The on-screen line that matched.")
    ocr_box: list[float] | None = Field(
        None, description="Where that line is: [x0, y0, x1, y1] as fractions of the frame."
    )
    match_kind: Literal["exact", "normalised", "phonetic"] | None = Field(
        None,
        description="How the spoken words matched the query (speech hits only, else null): exact (the words "
        "as recognised), normalised (after spelling numbers, currency and abbreviations one way: '$40' for "
        "'forty dollars') or phonetic (words that sound like the query: spoken-term detection).",
    )
    match_score: float | None = Field(
        None,
        ge=0,
        le=1,
        description="How well the utterance says the query, unitless in [0, 1] (speech hits only, else null): "
        "the fraction of the query's words found times 1.0 (exact) or 0.95 (normalised), or 0.9 times the "
        "phonetic similarity of the closest window of words (phonetic matches are kept from 0.7 up); so a "
        "line with every query word always ranks above one that only sounds like it.",
    )
    heard_as: str | None = Field(
        None, description="A phonetic match only: the words as the recogniser heard them ('musket ball coach')."
    )
    parts: list[HitModel] = Field(
        default_factory=list,
        description="A compound query's result (\"A then B\"): each part's own hit, in query order; the "
        "result's start_s / end_s are the union of the parts' spans, its segment_id the first part's.",
    )
    relation: str | None = Field(
        None, description="A compound result: how each part relates to the one before (then, while)."
    )
    recorded_at: str | None = Field(None, description="When the video was recorded, ISO 8601 UTC.")
    recorded_source: str | None = Field(
        None, description="Where recorded_at comes from: the container's date tag, else the file's mtime."
    )
    confidence: Literal["high", "medium", "low", "none"] | None = Field(
        None,
        description="What the match means, absolutely (not its rank): high, medium, low or none; from the "
        "p-value against the library's null (visual) or the query's content words found (speech, text); "
        "docs/confidence.md. None: not judged.",
    )
    p_value: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Of the visual evidence: the share of content-free queries scoring at least this well "
        "against the library (None without visual evidence).",
    )

    @classmethod
    def of(cls, hit: Hit) -> HitModel:
        return cls.model_validate(hit.to_dict())


class Timings(BaseModel):
    encode: float = Field(description="Text tower, in milliseconds.")
    vector: float = Field(description="Vector index (FAISS), in milliseconds.")
    catalog: float = Field(description="Catalog (SQL: rows, full text), in milliseconds.")


class VerdictModel(BaseModel):
    """What a search found, in one phrase (``tempme.index.Verdict``)."""

    verdict: Literal["good matches", "no good match"]
    best_confidence: Literal["high", "medium", "low", "none"] = Field(description="The best hit's confidence.")
    good: int = Field(description="Hits at min_confidence or better.")
    hits: int = Field(description="Hits judged.")
    min_confidence: Literal["high", "medium", "low", "none"] = Field(description="What counts as a good match.")
    message: str = Field(description="For people: '2 good matches for “dog”' or 'no good match for “zxqv”'.")


class SearchResponse(BaseModel):
    query: str | None = Field(description="The query as searched (None for more-like-this).")
    mode: str = Field(description="How it was matched.")
    k: int
    offset: int
    took_ms: float = Field(description="Time to answer, in milliseconds.")
    timings_ms: Timings
    encoder: str | None = Field(description="The library's encoder, described.")
    weights_warning: str | None = Field(
        None, description="Set when the encoder's weights are random: no result can mean anything."
    )
    verdict: VerdictModel = Field(description="Good matches, or no good match (the hits then are the closest).")
    hits: list[HitModel]


class Moment(BaseModel):
    """A segment of a video."""

    segment_id: int
    video_id: int
    video: str = Field(description="The video file's path on the server.")
    start_s: float = Field(description="Start, in seconds.")
    end_s: float = Field(description="End (exclusive), in seconds.")
    duration_s: float = Field(description="Length of the whole video, in seconds.")
    thumbnail_url: str = Field(description="Its picture (JPEG), relative to the server.")
    stream_url: str = Field(description="Its video, relative to the server (HTTP Range).")


class Video(BaseModel):
    video_id: int
    video: str = Field(description="The file's path on the server.")
    status: Literal["indexed", "failed"]
    error: str | None = Field(description="Why it failed (status failed).")
    duration_s: float | None = Field(description="Length, in seconds.")
    segments: int = Field(description="Moments indexed.")
    size_bytes: int = Field(description="File size when indexed, in bytes (-1: unknown).")
    indexed_at: str = Field(description="When, ISO 8601 UTC.")


class VideoPage(BaseModel):
    total: int = Field(description="Videos in the library (indexed and failed).")
    offset: int
    limit: int
    videos: list[Video]


class FolderJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str = Field(..., max_length=4096, description="Absolute path of a folder on the server.")


class Job(BaseModel):
    job_id: str
    kind: Literal["upload", "folder"]
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    created_at: str = Field(description="ISO 8601 UTC.")
    started_at: str | None
    finished_at: str | None
    videos_total: int = Field(description="Videos to index.")
    videos_done: int
    total_s: float = Field(description="Video seconds to index.")
    done_s: float = Field(description="Video seconds indexed.")
    progress: float = Field(ge=0, le=1, description="done_s / total_s (videos when durations are unknown).")
    eta_s: float | None = Field(description="Seconds left, estimated from the rate so far.")
    current: str | None = Field(
        description="The file being indexed (its seconds count in done_s as they are encoded), or the one just finished."
    )
    summary: str | None = Field(description="What the run did, in words (when done).")
    error: str | None = Field(description="Why it failed.")
    cancel_requested: bool
    videos: list[str] = Field(description="Videos it added.")
    owner: str = Field(description="The server process running it (host:pid).")


class Library(BaseModel):
    path: str
    videos: int = Field(description="Indexed videos.")
    segments: int
    failed: int = Field(description="Videos that could not be indexed.")
    index_type: str = Field(description="flat / ivf / ivf-sq8, or a pinned FAISS factory string.")
    vectors: int
    index_version: int
    index_mapped: bool = Field(description="The index's lists are memory-mapped from its file.")
    encoder: str | None = Field(description="The encoder, described (None before the first video).")
    last_run: dict | None = Field(description="The last indexing run: started_at, seconds, counts.")
    weights: Literal["random", "named", "file", "unknown"] = Field(
        "unknown", description="The encoder's weights: random (not semantic), named (open_clip tag), file, unknown."
    )
    weights_warning: str | None = Field(None, description="Set when the weights are random.")


class Info(BaseModel):
    """What a front end says beside results (the page's banner and modes, the CLI's warning)."""

    weights: Literal["random", "named", "file", "unknown"]
    weights_warning: str | None = Field(description="Set when the weights are random: results mean nothing.")
    modes: list[str] = Field(description="Search modes the library has data for (speech / text once processed).")
    videos: int = Field(description="Indexed videos.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    pid: int = Field(description="The server process that answered (one of the replicas).")


class Ready(BaseModel):
    ready: bool
    checks: dict[str, bool] = Field(description="Each check: catalog, index, model, ...")
    detail: dict[str, str] = Field(default_factory=dict, description="Why a check is not passing.")


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = Field(description="What went wrong, in one line.")
    instance: str | None = None
