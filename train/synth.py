"""A synthetic text-video dataset in the exact MSR-VTT layout, to prove the training loop learns.

Each video shows two events one after the other on a textured grey background: in the first half
one coloured shape moves along one side of the frame, in the second half another shape moves along
another side. Captions say what moves, where, and in what order, e.g.
``"a red circle moves along the top then a blue square moves along the left"``.

The test split holds videos never used for training. Most of its videos (and, by default, half of
the training videos) come in *temporal-order twins*: the same two events in the opposite order,
whose captions differ only in order. A per-frame mean-pooled encoder sees the same frames in both
twins, so only a model that knows frame order (TempMe's ClipMe with clip-temporal embeddings) can
tell them apart.

Written files (``OUT_DIR``): ``MSRVTT_data.json``, ``MSRVTT_train.9k.csv``,
``MSRVTT_JSFUSION_test.csv``, ``videos/videoN.mp4`` (H.264 via PyAV) and
``SYNTH_temporal_order.csv`` (``key,twin_key``: the JSFUSION rows of each twin pair).
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

COLOURS = {"red": (215, 40, 40), "green": (40, 175, 60), "blue": (45, 75, 225), "yellow": (230, 205, 35)}
SHAPES = ("circle", "square", "triangle")
SIDES = ("top", "bottom", "left", "right")
ORDER_CSV = "SYNTH_temporal_order.csv"
TEMPLATES = (
    "a {a} moves along the {ra} then a {b} moves along the {rb}",
    "first a {a} moves along the {ra} then a {b} moves along the {rb}",
    "a {a} moves along the {ra} before a {b} moves along the {rb}",
    "a {a} along the {ra} is followed by a {b} along the {rb}",
)
"""Caption paraphrases; the first is the test caption. Text order always equals temporal order."""


@dataclass(frozen=True)
class Event:
    """One shape moving along one side of the frame."""

    colour: str
    shape: str
    side: str

    @property
    def noun(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class SynthConfig:
    """Size of the synthetic dataset. Durations in seconds; ``size`` in pixels (square frames)."""

    num_train: int = 1000
    train_twin_fraction: float = 0.5
    num_test_twins: int = 40
    num_test_single: int = 20
    size: int = 64
    fps: int = 4
    min_duration_s: float = 8.0
    max_duration_s: float = 16.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_train < 1 or self.num_test_twins < 0 or self.num_test_single < 0:
            raise ValueError(
                f"need num_train >= 1 and non-negative test counts, got {self.num_train}, "
                f"{self.num_test_twins}, {self.num_test_single}"
            )
        if not 0.0 <= self.train_twin_fraction <= 1.0:
            raise ValueError(f"train_twin_fraction must be in [0, 1], got {self.train_twin_fraction}")
        if self.num_test_twins * 2 + self.num_test_single < 2:
            raise ValueError("the test split needs at least 2 videos")
        if self.size < 32 or self.size % 2:
            raise ValueError(f"size must be even and >= 32 pixels, got {self.size}")
        if not 0 < self.min_duration_s <= self.max_duration_s:
            raise ValueError(
                f"need 0 < min_duration_s <= max_duration_s, got {self.min_duration_s}, {self.max_duration_s}"
            )
        if self.fps < 1:
            raise ValueError(f"fps must be >= 1, got {self.fps}")


def captions(a: Event, b: Event) -> list[str]:
    """All paraphrases for "a, then b" (the first is the canonical test caption)."""
    return [t.format(a=a.noun, ra=a.side, b=b.noun, rb=b.side) for t in TEMPLATES]


def _random_event_pair(rng: np.random.Generator) -> tuple[Event, Event]:
    while True:
        a, b = (
            Event(str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)), str(rng.choice(SIDES))) for _ in range(2)
        )
        if a.noun != b.noun and a.side != b.side:
            return a, b


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A low-saturation texture: smooth grey blobs plus fine grain. (H, W, 3) uint8."""
    from PIL import Image

    coarse = rng.uniform(80, 170, size=(6, 6)).astype(np.float32)
    smooth = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=np.float32)
    tint = rng.uniform(-12, 12, size=3).astype(np.float32)
    grain = rng.normal(0, 6, size=(size, size, 1)).astype(np.float32)
    return np.clip(smooth[..., None] + tint + grain, 0, 255).astype(np.uint8)


def _draw(img, event: Event, progress: float, forward: bool, radius: int, jitter: float) -> None:
    """Draw ``event``'s shape at ``progress`` (0..1) of its path along its side of the frame."""
    from PIL import ImageDraw

    size = img.size[0]
    along = 0.25 + 0.5 * (progress if forward else 1.0 - progress)  # fraction of the side's length
    edge = 0.2 + jitter  # distance from the side, as a fraction of the frame
    x, y = {
        "top": (along, edge),
        "bottom": (along, 1 - edge),
        "left": (edge, along),
        "right": (1 - edge, along),
    }[event.side]
    cx, cy, r = x * size, y * size, radius
    colour = COLOURS[event.colour]
    draw = ImageDraw.Draw(img)
    if event.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif event.shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=colour)


def render(a: Event, b: Event, duration_s: float, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Frames of "a, then b": a during [0, duration/2), b after. Returns (F, S, S, 3) uint8."""
    from PIL import Image

    background = _background(rng, cfg.size)
    n = int(round(duration_s * cfg.fps))
    half = duration_s / 2
    style = [
        (bool(rng.integers(2)), int(rng.integers(cfg.size // 6, cfg.size // 5 + 1)), float(rng.uniform(-0.03, 0.03)))
        for _ in range(2)
    ]
    frames = []
    for i in range(n):
        t = (i + 0.5) / cfg.fps
        which = 0 if t < half else 1
        progress = (t if which == 0 else t - half) / half
        img = Image.fromarray(background)
        forward, radius, jitter = style[which]
        _draw(img, (a, b)[which], progress, forward, radius, jitter)
        frames.append(np.asarray(img))
    return np.stack(frames)


def write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """Encode (F, H, W, 3) uint8 frames as H.264 (yuv420p) with PyAV."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "17", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_synth(out_dir: Path, cfg: SynthConfig = SynthConfig(), progress: bool = False) -> Path:
    """Write the dataset (see the module docstring) into ``out_dir``; returns ``out_dir``.

    Raises FileExistsError when ``out_dir`` already holds an ``MSRVTT_data.json``.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    if (out_dir / "MSRVTT_data.json").exists():
        raise FileExistsError(f"{out_dir} already holds a dataset (MSRVTT_data.json); choose another folder")
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)

    # Training videos: a share in temporal-order twins, so that batches hold order-only negatives
    # (without them, content alone separates every batch and nothing rewards knowing the order).
    plan: list[tuple[str, Event, Event]] = []
    for _ in range(int(cfg.num_train * cfg.train_twin_fraction) // 2):
        a, b = _random_event_pair(rng)
        plan += [("train", a, b), ("train", b, a)]
    plan += [("train", *_random_event_pair(rng)) for _ in range(cfg.num_train - len(plan))]
    twins: list[tuple[int, int]] = []
    for _ in range(cfg.num_test_twins):
        a, b = _random_event_pair(rng)
        twins.append((len(plan), len(plan) + 1))
        plan += [("test", a, b), ("test", b, a)]
    plan += [("test", *_random_event_pair(rng)) for _ in range(cfg.num_test_single)]

    videos, sentences, test_rows, key_of = [], [], [], {}
    for n, (split, a, b) in enumerate(tqdm(plan, desc="synth videos", disable=not progress)):
        vid = f"video{n}"
        duration = float(rng.uniform(cfg.min_duration_s, cfg.max_duration_s))
        write_mp4(out_dir / "videos" / f"{vid}.mp4", render(a, b, duration, cfg, rng), cfg.fps)
        videos.append(
            {
                "category": SIDES.index(a.side),
                "url": f"synthetic://{vid}",
                "video_id": vid,
                "start time": 0.0,
                "end time": round(duration, 2),
                "split": split,
                "id": n,
            }
        )
        for caption in captions(a, b):
            sentences.append({"caption": caption, "video_id": vid, "sen_id": len(sentences)})
        if split == "test":
            key_of[n] = f"ret{len(test_rows)}"
            test_rows.append([key_of[n], f"msr{n}", vid, captions(a, b)[0]])

    info = {
        "contributor": "tempme synth",
        "data_created": "generated",
        "version": "1.0",
        "description": f"synthetic MSR-VTT layout, {cfg}",
        "year": "2026",
    }
    (out_dir / "MSRVTT_data.json").write_text(json.dumps({"info": info, "videos": videos, "sentences": sentences}))
    with (out_dir / "MSRVTT_train.9k.csv").open("w", newline="") as f:
        f.write("video_id\n" + "".join(f"video{n}\n" for n, (s, _, _) in enumerate(plan) if s == "train"))
    with (out_dir / "MSRVTT_JSFUSION_test.csv").open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([["key", "vid_key", "video_id", "sentence"], *test_rows])
    with (out_dir / ORDER_CSV).open("w", newline="") as f:
        rows = [[key_of[i], key_of[j]] for i, j in twins] + [[key_of[j], key_of[i]] for i, j in twins]
        csv.writer(f, lineterminator="\n").writerows([["key", "twin_key"], *rows])
    logger.info("wrote %d train and %d test videos to %s", cfg.num_train, len(test_rows), out_dir)
    return out_dir


def read_twins(data_dir: Path) -> dict[str, str]:
    """``SYNTH_temporal_order.csv`` -> ``{test key: key of its temporal-order twin}``."""
    with (Path(data_dir) / ORDER_CSV).open(newline="") as f:
        return {row["key"]: row["twin_key"] for row in csv.DictReader(f)}
