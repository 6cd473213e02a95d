"""Ingest, step 2 on a Ray cluster: a Ray Data pipeline behind the :class:`~.outcomes.Executor`
protocol (``tempme index --engine ray``). Needs ``tempme[scale]``.

Pipeline over the planned paths (not ``ray.data.read_videos``, which has neither our timestamp
sampling nor cut detection):

1. ``from_items`` -- one row per planned file (key, path), one block each;
2. ``flat_map(_decode)`` as CPU tasks (``decoders`` at a time, 1 CPU each): content hash, probe,
   decode + cut detection + frame sampling (:func:`tempme.index.media.scan.scan_video`); one row per
   segment (its span and (T, H, W, 3) uint8 frames) and then one row closing the video (its
   metadata, hash, frame count and decode time, or the failure reason);
3. ``map_batches(_Encode)`` on an actor pool (``encoders`` actors, ``gpus_per_encoder`` GPUs
   each): a callable class that loads the encoder once per actor from the
   :class:`.encoders.EncoderSpec` (LoRA folded; on a GPU under bf16 autocast through
   ``VideoEncoder.inference``) and encodes segment rows in batches of ``batch_size``; closing
   rows pass through.

The driver iterates the stream (``iter_rows``) and yields a :class:`VideoResult` as soon as a
video's closing row and all its segments are in (rows of one video may arrive out of order), so
the one committer on the driver writes exactly what it writes for the local engine. Payloads
travel pickled in one ``payload`` column (spans, metadata and arrays of any shape in one
schema).
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tempme.index.ingest.encoders import EncoderHandle, EncoderSpec
from tempme.index.ingest.outcomes import Outcome, VideoFailure, VideoResult
from tempme.index.media.segments import SegmentParams

log = logging.getLogger(__name__)


def _decode(row: dict, *, num_frames: int, short_side: int, params: SegmentParams) -> Iterator[dict]:
    """flat_map function (a CPU task): one planned file -> segment rows + one closing row."""
    from tempme.index.media.files import content_hash
    from tempme.index.media.scan import VideoScan, scan_video

    from tempme.video import VideoDecodeError, probe

    key, path = int(row["key"]), Path(row["path"])
    t0 = time.perf_counter()
    n = 0
    try:
        digest = content_hash(path)
        meta = probe(path)
        scan = VideoScan(cuts_s=[])
        for seg in scan_video(path, meta, num_frames, short_side, params, scan):
            n += 1  # a later failure makes the driver drop this video's segments
            yield {"key": key, "kind": "seg", "payload": pickle.dumps((seg.span, seg.frames))}
        yield {
            "key": key,
            "kind": "done",
            "payload": pickle.dumps((meta, digest, scan.decoded_frames, time.perf_counter() - t0, n)),
        }
    except (VideoDecodeError, OSError, ValueError, RuntimeError) as exc:
        reason = exc.reason if isinstance(exc, VideoDecodeError) else f"{type(exc).__name__}: {exc}"
        yield {"key": key, "kind": "failed", "payload": pickle.dumps((reason, time.perf_counter() - t0))}


class _Encode:
    """map_batches callable class: the encoder, loaded once per actor."""

    def __init__(self, spec: EncoderSpec, threads: int) -> None:
        import torch
        from tempme.index.ingest.encoders import load_spec

        torch.set_num_threads(max(1, threads))
        self.enc = load_spec(spec)

    def __call__(self, batch: dict) -> dict:
        import torch

        keys, kinds, payloads = list(batch["key"]), list(batch["kind"]), list(batch["payload"])
        seg_rows = [i for i, k in enumerate(kinds) if k == "seg"]
        if seg_rows:
            t0 = time.perf_counter()
            items = [pickle.loads(payloads[i]) for i in seg_rows]
            x = torch.stack([self.enc.preprocess_frames(frames) for _, frames in items])  # (B, T, 3, S, S)
            with self.enc.inference():
                emb = self.enc.encode_video(x).float().cpu().numpy()  # (B, D)
            share = (time.perf_counter() - t0) / len(seg_rows)
            for j, i in enumerate(seg_rows):
                payloads[i] = pickle.dumps((items[j][0], emb[j], share))
        return {
            "key": np.asarray(keys, np.int64),
            "kind": np.asarray(kinds, object),
            "payload": np.asarray(payloads, object),
        }


@dataclass(frozen=True)
class RayExecutor:
    """Decode on Ray CPU tasks, encode on a Ray actor pool; see the module docstring.

    ``address``: ``auto`` or ``HOST:PORT`` of a running cluster; None joins the cluster this
    process already initialised, else starts a local one. ``verbose``: keep Ray's own progress
    bars and worker logs.
    """

    params: SegmentParams = SegmentParams()
    address: str | None = None
    decoders: int = 2  # decode tasks at a time
    encoders: int = 1  # encoder actors
    gpus_per_encoder: float = 0.0
    cpus_per_encoder: float = 1.0
    batch_size: int = 8  # segments per encoder call
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.decoders < 1 or self.encoders < 1:
            raise ValueError(f"need at least one decoder and one encoder, got {self.decoders} and {self.encoders}")
        if self.gpus_per_encoder < 0 or self.batch_size < 1:
            raise ValueError(
                f"gpus_per_encoder {self.gpus_per_encoder} and batch_size {self.batch_size} must be >= 0 and >= 1"
            )

    def _connect(self):
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=self.verbose, configure_logging=self.verbose)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = self.verbose
        ctx.verbose_stats_logs = self.verbose
        return ray

    def run(self, paths: Sequence[Path], encoder: EncoderHandle) -> Iterator[Outcome]:
        paths = [Path(p) for p in paths]
        if not paths:
            return
        ray = self._connect()
        enc = encoder.model
        ds = ray.data.from_items(
            [{"key": i, "path": str(p)} for i, p in enumerate(paths)], override_num_blocks=len(paths)
        )
        ds = ds.flat_map(
            _decode,
            fn_kwargs={"num_frames": enc.num_frames, "short_side": enc.image_size, "params": self.params},
            concurrency=self.decoders,
            num_cpus=1,
        )
        ds = ds.map_batches(
            _Encode,
            fn_constructor_args=(encoder.spec, int(self.cpus_per_encoder)),
            batch_size=self.batch_size,
            concurrency=self.encoders,
            num_cpus=self.cpus_per_encoder,
            num_gpus=self.gpus_per_encoder,
            batch_format="numpy",
        )
        segs: dict[int, list] = {}
        done: dict[int, tuple] = {}
        for row in ds.iter_rows():
            key, kind, payload = int(row["key"]), row["kind"], pickle.loads(row["payload"])
            if kind == "failed":
                segs.pop(key, None)
                reason, decode_s = payload
                yield VideoFailure(paths[key], reason, decode_s)
                continue
            if kind == "seg":
                segs.setdefault(key, []).append(payload)
            else:
                done[key] = payload
            if key in done and len(segs.get(key, [])) == done[key][4]:
                meta, digest, n_frames, decode_s, _ = done.pop(key)
                parts = sorted(segs.pop(key, []), key=lambda p: (p[0].start_s, p[0].end_s))
                if not parts:
                    yield VideoFailure(paths[key], "no segments decoded", decode_s)
                    continue
                yield VideoResult(
                    paths[key],
                    meta,
                    digest,
                    [p[0] for p in parts],
                    np.stack([p[1] for p in parts]).astype(np.float32),
                    n_frames,
                    decode_s,
                    float(sum(p[2] for p in parts)),
                )
