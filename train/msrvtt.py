"""MSR-VTT in its published layout: annotation readers, video lookup and the validation carve-out.

The files are those of the CLIP4Clip / TempMe distribution (see DESIGN.md, "MSR-VTT files"):

- ``MSRVTT_data.json``: ``videos`` (10,000) and ``sentences`` (200,000 ``{video_id, caption}``).
- ``MSRVTT_train.9k.csv`` / ``MSRVTT_train.7k.csv``: one column ``video_id``; every caption of a
  listed video is a training pair (180,000 pairs for 9k, 140,200 for 7k).
- ``MSRVTT_JSFUSION_test.csv``: ``key,vid_key,video_id,sentence``; 1,000 rows whose order is the
  ground-truth diagonal of the 1k-A test; the sentence is read from this file, not from the JSON.
- videos: ``<video_id>.mp4`` (else ``.webm``) in one folder.

Checkpoints are selected on a validation split carved from the training *videos* (seeded), never on
the test split (the reference implementation selects on test; we report both final and selected).
"""

from __future__ import annotations

import csv
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DATA_JSON = "MSRVTT_data.json"
TRAIN_CSVS = {"9k": "MSRVTT_train.9k.csv", "7k": "MSRVTT_train.7k.csv"}
TEST_CSV = "MSRVTT_JSFUSION_test.csv"
VIDEO_EXTENSIONS = (".mp4", ".webm")


class MSRVTTFormatError(ValueError):
    """An annotation file is missing or does not have the MSR-VTT layout."""


class MissingVideosError(FileNotFoundError):
    """Some videos of a split are missing or unreadable; the message counts them and names a few."""

    def __init__(self, problems: dict[str, str], total: int):
        self.problems = problems
        self.total = total
        first = "; ".join(f"{vid}: {why}" for vid, why in list(problems.items())[:5])
        super().__init__(
            f"{len(problems)} of {total} videos are missing or unreadable (first: {first}). "
            "Fix the video folder or pass --skip-missing to train/evaluate without them."
        )


@dataclass(frozen=True)
class Pair:
    """One (video, caption) pair. ``key`` is the JSFUSION row key for test pairs, else ``sen<id>``."""

    video_id: str
    caption: str
    key: str


@dataclass(frozen=True)
class MSRVTT:
    """The pairs of one MSR-VTT dataset directory.

    ``train``/``val`` hold every caption of their videos (the video sets are disjoint); ``test`` holds
    the JSFUSION rows in file order (row i's video is the ground truth of query i).
    """

    train: list[Pair]
    val: list[Pair]
    test: list[Pair]

    def videos(self, split: str) -> list[str]:
        """Distinct video ids of ``split`` ("train", "val", "test") in first-seen order."""
        return list(dict.fromkeys(p.video_id for p in getattr(self, split)))


def _require(path: Path) -> Path:
    if not path.is_file():
        raise MSRVTTFormatError(f"{path} not found: expected the MSR-VTT annotation files in {path.parent}")
    return path


def read_captions(data_dir: Path) -> dict[str, list[tuple[int, str]]]:
    """``MSRVTT_data.json`` -> ``{video_id: [(sen_id, caption), ...]}`` in file order.

    Raises MSRVTTFormatError when the file lacks the ``sentences`` list or its entries lack
    ``video_id`` / ``caption``.
    """
    path = _require(Path(data_dir) / DATA_JSON)
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("sentences"), list):
        raise MSRVTTFormatError(f"{path}: expected an object with a 'sentences' list")
    captions: dict[str, list[tuple[int, str]]] = {}
    for i, s in enumerate(data["sentences"]):
        try:
            captions.setdefault(s["video_id"], []).append((int(s.get("sen_id", i)), s["caption"]))
        except (KeyError, TypeError) as e:
            raise MSRVTTFormatError(f"{path}: sentence {i} has no {e}") from None
    return captions


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    with _require(path).open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise MSRVTTFormatError(f"{path}: header {reader.fieldnames} lacks column(s) {missing}")
        return list(reader)


def read_train_ids(data_dir: Path, train_csv: str = "9k") -> list[str]:
    """Video ids of the training CSV (``"9k"``, ``"7k"`` or a file name in ``data_dir``)."""
    name = TRAIN_CSVS.get(train_csv, train_csv)
    return [row["video_id"] for row in _read_csv(Path(data_dir) / name, ("video_id",))]


def read_test(data_dir: Path) -> list[Pair]:
    """The JSFUSION 1k-A test rows, in file order (the order is the ground truth)."""
    rows = _read_csv(Path(data_dir) / TEST_CSV, ("key", "video_id", "sentence"))
    return [Pair(video_id=r["video_id"], caption=r["sentence"], key=r["key"]) for r in rows]


def carve_validation(video_ids: list[str], n_val: int, seed: int) -> tuple[list[str], list[str]]:
    """Split training videos into (train, val) with a seeded draw of ``n_val`` videos.

    The order of ``video_ids`` is kept in both parts. Raises ValueError unless
    ``0 <= n_val < len(video_ids)``.
    """
    if not 0 <= n_val < len(video_ids):
        raise ValueError(f"n_val={n_val} must be in [0, {len(video_ids)}) (number of training videos)")
    val = set(random.Random(seed).sample(sorted(video_ids), n_val))
    return [v for v in video_ids if v not in val], [v for v in video_ids if v in val]


def load_msrvtt(data_dir: Path, train_csv: str = "9k", n_val: int = 500, seed: int = 0) -> MSRVTT:
    """Read an MSR-VTT directory into train / val / test pairs.

    Training pairs are every caption of every listed training video (180,000 for 9k); ``n_val``
    of those videos (seeded) become the validation split, with all their captions. Raises
    MSRVTTFormatError when a listed training video has no caption in the JSON.
    """
    data_dir = Path(data_dir)
    captions = read_captions(data_dir)
    train_ids = read_train_ids(data_dir, train_csv)
    no_caption = [v for v in train_ids if v not in captions]
    if no_caption:
        raise MSRVTTFormatError(
            f"{len(no_caption)} training videos have no caption in {DATA_JSON} (first: {no_caption[:5]})"
        )
    test = read_test(data_dir)
    overlap = set(train_ids) & {p.video_id for p in test}
    if overlap:
        raise MSRVTTFormatError(f"{len(overlap)} test videos are also in the training CSV (e.g. {sorted(overlap)[:3]})")
    train_ids, val_ids = carve_validation(train_ids, n_val, seed)

    def pairs(ids: list[str]) -> list[Pair]:
        return [Pair(v, cap, f"sen{sid}") for v in ids for sid, cap in captions[v]]

    ds = MSRVTT(train=pairs(train_ids), val=pairs(val_ids), test=test)
    logger.info(
        "MSR-VTT %s: %d train pairs (%d videos), %d val pairs (%d videos), %d test pairs",
        data_dir,
        len(ds.train),
        len(train_ids),
        len(ds.val),
        len(val_ids),
        len(ds.test),
    )
    return ds


def find_video(video_dir: Path, video_id: str) -> Path | None:
    """``<video_dir>/<video_id>.mp4``, else ``.webm``, else None."""
    for ext in VIDEO_EXTENSIONS:
        path = Path(video_dir) / f"{video_id}{ext}"
        if path.is_file():
            return path
    return None


def default_video_dir(data_dir: Path) -> Path:
    """``DATA/videos/all`` (the CLIP4Clip download) when it exists, else ``DATA/videos``."""
    nested = Path(data_dir) / "videos" / "all"
    return nested if nested.is_dir() else Path(data_dir) / "videos"
