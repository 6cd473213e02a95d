"""How ``Library.add`` and ``Library.reindex`` encode: one options object instead of a dozen keywords.

The CLI (``tempme index``, ``tempme reindex``) and the page build an :class:`IngestOptions`; the
keyword form (``lib.add(paths, model="ViT-B-32", workers=4)``) still works and means the same
options (:meth:`IngestOptions.of`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tempme.index.media.segments import SegmentParams
from tempme.index.settings import get_settings

if TYPE_CHECKING:
    from tempme.index.ingest.outcomes import Executor


@dataclass(frozen=True)
class IngestOptions:
    """The encoder and the engine of an ingest run.

    ``model``/``pretrained``/``adapter``/``quick_gelu``: the encoder; any left None comes from the
    library's record (:func:`tempme.index.ingest.encoders.resolve_request`), so only a new
    library needs ``model``. ``quick_gelu`` is the activation where the weights cannot tell (a
    local state dict; :mod:`tempme.weights`). ``encoder``: an already loaded
    ``tempme.encoder.VideoEncoder`` to use instead (``add`` only). ``executor``: the engine that
    decodes and encodes (default: a :class:`~tempme.index.ingest.executor.LocalExecutor` with
    ``segment_params``, ``workers`` decoding threads and ``batch_size`` segments per encoder
    call). ``flush_every``: videos between two saves of the vector index. ``settle_s``: files
    modified less than this many seconds ago may still be written (a watched folder): they are
    not indexed now but listed in ``IndexReport.deferred``. ``prune``: also drop
    the known videos under the given folders that the walk did not list although they are still
    on disk (hidden ones, other extensions, under linked folders); by default only gone files go
    (:func:`tempme.index.ingest.plan.gone_videos`).

    Raises:
        ValueError: ``workers``, ``batch_size`` or ``flush_every`` below 1.
    """

    model: str | None = None
    pretrained: str | None = None
    adapter: Path | None = None
    quick_gelu: bool | None = None
    encoder: object | None = None
    executor: Executor | None = None
    workers: int = 2
    batch_size: int = 8
    segment_params: SegmentParams = field(default_factory=SegmentParams)
    flush_every: int = field(default_factory=lambda: get_settings().flush_every)
    settle_s: float = 0.0  # files modified less than this long ago are left for a later run (watching)
    prune: bool = False

    def __post_init__(self) -> None:
        if self.segment_params is None:  # the keyword form's old default
            object.__setattr__(self, "segment_params", SegmentParams())
        if min(self.workers, self.batch_size, self.flush_every) < 1:
            raise ValueError(
                f"workers ({self.workers}), batch_size ({self.batch_size}) and flush_every ({self.flush_every}) "
                "must be >= 1"
            )

    @classmethod
    def of(cls, options: IngestOptions | None, keywords: dict) -> IngestOptions:
        """``options`` (default: all defaults) with the keyword form's ``keywords`` applied.

        Raises:
            TypeError: a keyword that is not an option.
        """
        base = options if options is not None else cls()
        return replace(base, **keywords) if keywords else base
