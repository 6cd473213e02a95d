"""The query room: text -> vector (:mod:`.encoder`: LRU cache + micro-batcher over the text tower
:mod:`.towers` opens: the library's ONNX query model, or torch's), an image, clip or span ->
vector (:mod:`.example`), vector -> moments
(:mod:`.vector`), full text -> hits (:mod:`.text`), reciprocal rank fusion (:mod:`.fusion`), and
the router that picks and fuses the lists of a search (:mod:`.router`), compound queries ("A then
B": :mod:`.compound` joins the parts' hits in time, :mod:`.parts` searches and pages them), and
what each hit means (:mod:`.confidence` against the nulls of :mod:`.calibration`;
docs/confidence.md)."""

from tempme.index.query.calibration import NullCache
from tempme.index.query.compound import CompoundQuery, JoinedMoment, PartHit, QueryPart, Relation, join_parts
from tempme.index.query.confidence import TextEvidence, judge, text_evidence
from tempme.index.query.encoder import QueryEncoder, TextBatcher, TextQueries
from tempme.index.query.example import ExampleVector, VectorSample, example_vector, query_vector
from tempme.index.query.fusion import RRF_K, Fused, fuse_hits, reciprocal_rank_fusion
from tempme.index.query.router import OVERFETCH, SORT_POOL, Searchable, default_cutoff, search, search_vector, warm
from tempme.index.query.text import matched_words, search_lines
from tempme.index.query.timing import STAGES, search_timings, stage
from tempme.index.query.towers import (
    TextTower,
    apply_search_threads,
    open_query_model,
    open_text_tower,
    set_search_threads,
)
from tempme.index.query.vector import Moment, SegmentHit, group_moments, merge_video_hits, search_moments

__all__ = [
    "OVERFETCH",
    "SORT_POOL",
    "ExampleVector",
    "VectorSample",
    "default_cutoff",
    "example_vector",
    "query_vector",
    "STAGES",
    "CompoundQuery",
    "JoinedMoment",
    "PartHit",
    "QueryPart",
    "Relation",
    "join_parts",
    "RRF_K",
    "Fused",
    "Moment",
    "NullCache",
    "QueryEncoder",
    "Searchable",
    "SegmentHit",
    "TextBatcher",
    "TextEvidence",
    "TextQueries",
    "TextTower",
    "apply_search_threads",
    "fuse_hits",
    "group_moments",
    "judge",
    "matched_words",
    "merge_video_hits",
    "open_query_model",
    "open_text_tower",
    "reciprocal_rank_fusion",
    "search",
    "search_lines",
    "search_moments",
    "search_timings",
    "search_vector",
    "set_search_threads",
    "stage",
    "text_evidence",
    "warm",
]
