"""`tempme reindex`: re-encode every video of a library with another (or the same) encoder.

Crash safety: **the old index stays searchable until the end, and the run resumes.** New
vectors go to a staging folder, ``<library>/reindex/`` (one ``.npz`` per video, written
atomically, under a ``target.json`` naming the new encoder); the catalog is not touched while
videos are encoded. When every video is done, one catalog transaction
(:meth:`Catalog.replace_encoding`) swaps the encoder record and every video's segments; the
FAISS file is then rebuilt and saved (a crash between the two leaves the catalog ahead of the
file, and the next open repairs the file from the catalog, as after any indexing run). A run
that is killed or interrupted before the swap leaves the library exactly as it was; running
the same ``reindex`` again reuses the staged videos whose file has not changed since (same
size, mtime and inode) and encodes only the rest. A staging folder for another encoder is
discarded.

:class:`Staging` is that folder; the orchestration (lock, executor, swap) is
:meth:`index.library.Library.reindex`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tempme.index.catalog import NewVideo

log = logging.getLogger(__name__)

STAGING_NAME = "reindex"


@dataclass
class ReindexReport:
    """What one :meth:`Library.reindex` did."""

    videos: int = 0  # re-encoded (now searchable with the new encoder)
    segments: int = 0
    resumed: int = 0  # of those, staged by an earlier, unfinished run
    failed: int = 0  # could not be read again: dropped from the library, listed as failed
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False  # stopped before the swap: the library is as it was
    encoder: str = ""  # the new encoder, described

    def summary(self) -> str:
        if self.interrupted:
            return (
                f"interrupted after {self.videos} of the videos: the library still uses its old encoder; "
                "run the same reindex again to resume"
            )
        resumed = f" ({self.resumed} from the interrupted run)" if self.resumed else ""
        failed = f"; {self.failed} could not be read and were dropped" if self.failed else ""
        return (
            f"re-encoded {self.videos} video{'s' if self.videos != 1 else ''}{resumed} "
            f"({self.segments} segments) with {self.encoder} in {self.seconds:.1f} s{failed}"
        )


def same_encoder(a: dict, b: dict) -> bool:
    """Two ``EncoderInfo.to_dict()`` describe the same encoder (every field that shapes a vector)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


class Staging:
    """The staging folder of a reindex towards the encoder ``target`` (``EncoderInfo.to_dict()``).

    Opening it for another target discards what it held.
    """

    def __init__(self, library_dir: Path, target: dict) -> None:
        self.dir = Path(library_dir) / STAGING_NAME
        marker = self.dir / "target.json"
        if self.dir.exists():
            try:
                same = same_encoder(json.loads(marker.read_text()), target)
            except (OSError, ValueError):
                same = False
            if not same:
                log.info("discarding %s (staged for another encoder)", self.dir)
                shutil.rmtree(self.dir)
        self.dir.mkdir(exist_ok=True)
        if not marker.exists():
            _atomic_write(marker, (json.dumps(target, default=str) + "\n").encode())

    def _file(self, video_id: int) -> Path:
        return self.dir / f"video-{int(video_id)}.npz"

    def put(self, video_id: int, video: NewVideo, inode: int) -> None:
        """Stage one re-encoded video (atomically: a killed writer leaves no partial file)."""
        meta = {
            "path": str(video.path),
            "size": video.size,
            "mtime_ns": video.mtime_ns,
            "inode": inode,
            "content_hash": video.content_hash,
            "duration_s": video.duration_s,
            "fps": video.fps,
            "width": video.width,
            "height": video.height,
            "codec": video.codec,
        }
        tmp = self.dir / f".video-{int(video_id)}.tmp.npz"
        np.savez(
            tmp,
            meta=np.array(json.dumps(meta)),
            spans=np.array([(a, b) for a, b, _ in video.spans], dtype=np.float64).reshape(-1, 2),
            kinds=np.array([k for _, _, k in video.spans], dtype=str),
            embeddings=np.asarray(video.embeddings, np.float32),
        )
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self._file(video_id))

    def get(self, video_id: int, stamp: tuple[int, int, int] | None) -> NewVideo | None:
        """The staged video, if it was staged from the file as it is now (``stamp``: size,
        mtime_ns, inode; None: the file is gone), else None."""
        f = self._file(video_id)
        if stamp is None or not f.is_file():
            return None
        try:
            with np.load(f) as z:
                meta = json.loads(str(z["meta"]))
                spans = [(float(a), float(b), str(k)) for (a, b), k in zip(z["spans"], z["kinds"])]
                embeddings = z["embeddings"].copy()
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring the damaged staged file %s: %s", f, exc)
            return None
        if (meta["size"], meta["mtime_ns"], meta["inode"]) != tuple(stamp):
            return None
        return NewVideo(
            path=Path(meta["path"]),
            size=meta["size"],
            mtime_ns=meta["mtime_ns"],
            content_hash=meta["content_hash"],
            duration_s=meta["duration_s"],
            fps=meta["fps"],
            width=meta["width"],
            height=meta["height"],
            codec=meta["codec"],
            spans=spans,
            embeddings=embeddings,
        )

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def discard_staging(library_dir: Path) -> None:
    """Remove a leftover staging folder (e.g. one whose swap already happened)."""
    shutil.rmtree(Path(library_dir) / STAGING_NAME, ignore_errors=True)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
