"""An example query -> one vector in the library's space, and the video it came from.

- an image: :func:`tempme.example_query.encode_image` with the library's encoder (``still``:
  the picture as a motionless clip through the TempMe tower; ``frame``: CLIP's image tower);
- a clip file: its 12 frames as indexing takes them for one segment
  (:func:`tempme.index.media.example_clip.clip_frames`), encoded as a segment
  (:func:`tempme.example_query.encode_clip_frames`);
- a span of a video: the stored vector when the span is one of the video's segments (to
  :data:`~tempme.index.hits.SPAN_TOLERANCE_S`), else its 12 frames decoded and encoded.

A clip or span of a video in the library (by its indexed name or its link target, else a copy
with the same bytes, :func:`~tempme.index.media.files.content_hash`) names that video, which the
search leaves out unless the query says ``include_self``. With a text, the example is refined
(:func:`tempme.refine.refine_query`, each side scaled by its cosine spread over a sample of the
library's vectors).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tempme.index.catalog import Catalog, SegmentRow
from tempme.index.filenames import stored_names
from tempme.index.media.files import content_hash
from tempme.index.queries import SPAN_TOLERANCE_S, Query

from tempme.refine import DEFAULT_TEXT_WEIGHT, refine_query

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExampleVector:
    """``vector``: (D,) float32 unit vector of the example alone; ``video_id``: the library video
    the clip or span is (None: an image, or a clip from outside the library); ``stored``: the
    vector is a stored segment's."""

    vector: np.ndarray
    video_id: int | None = None
    stored: bool = False


def library_video(catalog: Catalog, path: Path) -> tuple[str, int] | None:
    """(stored name, video id) of the indexed video at ``path``: by its name or link target, else
    by its bytes (a copy elsewhere); None when it is not in the library."""
    for name in stored_names(path):
        row = catalog.segment_at(name, 0.0)
        if row is not None:
            return name, row.video_id
    try:
        copy = catalog.path_with_hash(content_hash(path))
    except OSError:
        return None
    row = None if copy is None else catalog.segment_at(str(copy), 0.0)
    return None if row is None else (str(copy), row.video_id)


def stored_span(catalog: Catalog, name: str, start_s: float, end_s: float | None) -> SegmentRow | None:
    """The segment of the video stored as ``name`` whose bounds are ``[start_s, end_s)`` to
    :data:`SPAN_TOLERANCE_S` (``end_s`` None: the video's end), or None."""
    row = catalog.segment_at(name, start_s + SPAN_TOLERANCE_S)
    if row is None or abs(row.start_s - start_s) > SPAN_TOLERANCE_S:
        return None
    end = row.duration_s if end_s is None else end_s
    return row if abs(row.end_s - end) <= SPAN_TOLERANCE_S else None


def example_vector(query: Query, encoder, catalog: Catalog) -> ExampleVector:
    """The example of ``query`` (an image, a clip or a span) as a vector (see the module docstring).

    Raises:
        tempme.example_query.ExampleQueryError: an unreadable image.
        tempme.video.VideoDecodeError: a clip that cannot be decoded.
        ValueError: a span outside the clip.
    """
    from tempme.index.media.example_clip import clip_frames

    from tempme.example_query import encode_clip_frames, encode_image  # torch, PyAV: on first use

    if query.kind == "image":
        return ExampleVector(encode_image(encoder, query.image, query.image_mode))
    path = Path(query.clip)
    found = library_video(catalog, path)
    if found is not None and query.kind == "span":
        row = stored_span(catalog, found[0], float(query.start_s or 0.0), query.end_s)
        if row is not None:
            return ExampleVector(catalog.segment_vector(row.segment_id), found[1], stored=True)
    frames = clip_frames(path, encoder.num_frames, encoder.image_size, query.start_s, query.end_s)
    return ExampleVector(encode_clip_frames(encoder, frames.frames), None if found is None else found[1])


def query_vector(
    query: Query,
    encoder: Callable[[], object],
    encode_text: Callable[[str], np.ndarray],
    catalog: Catalog,
    sample: Callable[[], np.ndarray],
) -> tuple[np.ndarray, int | None]:
    """The (D,) vector a query searches with, and the library video an example came from.

    A text alone: ``encode_text``. An example alone: :func:`example_vector`. Both: the example
    refined by the text with the library ``sample`` as the scale reference.
    """
    if not query.example:
        return encode_text(query.text), None
    ex = example_vector(query, encoder(), catalog)
    if not query.text:
        return ex.vector, ex.video_id
    weight = DEFAULT_TEXT_WEIGHT if query.text_weight is None else query.text_weight
    reference = sample()
    return refine_query(ex.vector, encode_text(query.text), weight, reference if len(reference) >= 2 else None), (
        ex.video_id
    )


class VectorSample:
    """``sample() -> (N, D)``: about ``n`` of the library's stored vectors
    (:meth:`Catalog.vector_sample`), read on first use and again once the vectors changed
    (another version or count in the store)."""

    def __init__(self, catalog: Catalog, store, n: int = 1024) -> None:
        self.catalog, self.store, self.n = catalog, store, n
        self._key: tuple[int, int] | None = None
        self._sample = np.zeros((0, 0), np.float32)

    def __call__(self) -> np.ndarray:
        key = (self.store.version, self.store.ntotal)
        if key != self._key:
            self._sample, self._key = self.catalog.vector_sample(self.n), key
        return self._sample
