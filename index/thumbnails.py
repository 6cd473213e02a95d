"""Thumbnails: a JPEG of the frame at a segment's start, cached in ``<library>/thumbs/``."""

from __future__ import annotations

import os
from pathlib import Path

from tempme.index.catalog import Catalog


def thumbnail(catalog: Catalog, folder: Path, segment_id: int, max_side: int = 320) -> Path:
    """The cached JPEG ``folder/<segment_id>.jpg`` (made on first use; longer side ``max_side`` px).

    Raises:
        KeyError: unknown segment. tempme.video.VideoDecodeError: the file is gone or broken.
    """
    from PIL import Image

    from tempme.video import sample_frames

    out = Path(folder) / f"{int(segment_id)}.jpg"
    if out.is_file():
        return out
    row = catalog.segment_rows([int(segment_id)]).get(int(segment_id))
    if row is None:
        raise KeyError(f"no segment {segment_id}")
    t = min(row.start_s + 0.05, (row.start_s + row.end_s) / 2)
    frame = sample_frames(row.path, [t], max_side=max_side)[0]
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    Image.fromarray(frame).save(tmp, format="JPEG", quality=85)
    os.replace(tmp, out)
    return out
