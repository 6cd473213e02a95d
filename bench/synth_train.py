"""Proof that training learns: TempMe vs per-frame mean pooling on the synthetic dataset.

Writes a synthetic MSR-VTT-layout dataset (``tempme synth``), then trains the tiny open_clip
architecture from random initialisation twice with the same data, steps and seed: once with TempMe
(ImgMe + ClipMe with clip-temporal embeddings) and once as the per-frame mean-pooling baseline
(merging off). Everything is trainable (from scratch); CPU.

Prints, for chance, each model before training and after: text-to-video R@1/R@5 and video-to-text
R@1 on all test captions; on the temporal-order subset (test captions whose twin video shows the
same events in the opposite order), t2v R@1 over the whole test gallery and the order accuracy
(own video strictly above its twin; chance 50 %). Also the training speed in clips/s.

    .venv/bin/python bench/synth_train.py              # full version, a few minutes on 2 cores
    .venv/bin/python bench/synth_train.py --quick      # smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tempme.train.config import TrainConfig  # noqa: E402
from tempme.train.data import resolve_videos  # noqa: E402
from tempme.train.evaluate import evaluate, make_eval_dataset  # noqa: E402
from tempme.train.loop import train  # noqa: E402
from tempme.train.metrics import metrics_from_ranks, ranks  # noqa: E402
from tempme.train.msrvtt import default_video_dir, read_test  # noqa: E402
from tempme.train.synth import SynthConfig, read_twins, write_synth  # noqa: E402

from tempme.config import TempMeConfig  # noqa: E402
from tempme.encoder import load_encoder  # noqa: E402


def order_metrics(sim: torch.Tensor, keys: list[str], twins: dict[str, str]) -> dict[str, float]:
    """t2v R@1 of the twin captions over the whole gallery, and own-above-twin accuracy (%)."""
    row = {k: i for i, k in enumerate(keys)}
    sub = [row[k] for k in keys if k in twins]
    r = ranks(sim)[sub]
    wins = [float(sim[i, i] > sim[i, row[twins[keys[i]]]]) for i in sub]
    return {"order_r1": metrics_from_ranks(r).r1, "order_acc": 100.0 * sum(wins) / len(wins)}


def measure(enc, data: Path) -> dict[str, float]:
    test = read_test(data)
    paths, _ = resolve_videos(default_video_dir(data), [p.video_id for p in test])
    metrics, sim = evaluate(enc, make_eval_dataset(enc, test, paths), batch_size=32)
    return {
        "t2v_r1": metrics["t2v"].r1,
        "t2v_r5": metrics["t2v"].r5,
        "v2t_r1": metrics["v2t"].r1,
        **order_metrics(sim, [p.key for p in test], read_twins(data)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="existing synthetic dataset (default: write one in a temp dir)")
    ap.add_argument("--num-train", type=int, default=300)
    ap.add_argument("--num-test-twins", type=int, default=30)
    ap.add_argument("--num-test-single", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: tiny matrices gain little from more, and shared cores suffer)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (60 videos, 1 epoch; checks that it runs)")
    args = ap.parse_args()
    if args.quick:
        args.num_train, args.num_test_twins, args.num_test_single, args.epochs = 60, 5, 5, 1
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "synth"
            t0 = time.perf_counter()
            write_synth(
                data,
                SynthConfig(
                    num_train=args.num_train,
                    num_test_twins=args.num_test_twins,
                    num_test_single=args.num_test_single,
                    seed=args.seed,
                ),
            )
            print(
                f"dataset: {args.num_train} train videos, {2 * args.num_test_twins + args.num_test_single} test "
                f"({2 * args.num_test_twins} in temporal-order twins), written in {time.perf_counter() - t0:.1f} s"
            )
        n_test = len(read_test(data))
        cfg = TrainConfig(
            val_videos=max(10, args.num_train // 12),
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=0.05,
            warmup_fraction=0.05,
            randaug="",
            trainable="all",
            num_workers=0,
            preload=True,
            seed=args.seed,
            test=False,
        )
        rows, speed = (
            {
                "chance": {
                    "t2v_r1": 100 / n_test,
                    "t2v_r5": 500 / n_test,
                    "v2t_r1": 100 / n_test,
                    "order_r1": 100 / n_test,
                    "order_acc": 50.0,
                }
            },
            {},
        )
        for name, merging in (("TempMe", True), ("mean pooling", False)):
            torch.manual_seed(args.seed)
            enc = load_encoder(
                "tempme-tiny", "none", device="cpu", config=TempMeConfig.preset("tempme-tiny", merging=merging)
            )
            rows[f"{name}, before"] = measure(enc, data)
            t0 = time.perf_counter()
            train(enc, data, Path(tmp) / name.replace(" ", "_"), cfg, resume=False, progress=False)
            elapsed = time.perf_counter() - t0
            log = (Path(tmp) / name.replace(" ", "_") / "metrics.jsonl").read_text().splitlines()
            records = [json.loads(line) for line in log]
            speed[name] = (
                sum(r["clips_per_s"] for r in records) / len(records),
                elapsed,
                records[0]["train_loss"],
                records[-1]["train_loss"],
            )
            rows[f"{name}, after"] = measure(enc, data)
            print(
                f"{name}: trained in {elapsed:.0f} s, {speed[name][0]:.1f} clips/s, after: {rows[f'{name}, after']}",
                flush=True,
            )

    print(
        f"\nsynthetic text-video retrieval, {n_test} test videos, tiny open_clip from scratch, "
        f"{args.epochs} epochs, batch {args.batch_size}, {torch.get_num_threads()} threads"
    )
    print(f"{'':<22}{'all: t2v R@1':>13}{'t2v R@5':>9}{'v2t R@1':>9}{'order: t2v R@1':>16}{'own>twin %':>12}")
    for name, r in rows.items():
        print(
            f"{name:<22}{r['t2v_r1']:13.1f}{r['t2v_r5']:9.1f}{r['v2t_r1']:9.1f}{r['order_r1']:16.1f}{r['order_acc']:12.1f}"
        )
    base = rows["mean pooling, after"]
    tm = rows["TempMe, after"]
    print(
        f"\nTempMe / mean pooling after training: all t2v R@1 x{tm['t2v_r1'] / max(base['t2v_r1'], 1e-9):.2f}, "
        f"order-subset t2v R@1 x{tm['order_r1'] / max(base['order_r1'], 1e-9):.2f}"
    )
    for name, (cps, elapsed, first, last) in speed.items():
        print(
            f"training {name}: {cps:.1f} clips/s, {elapsed:.0f} s, loss {first:.3f} (epoch 1) -> {last:.3f} (last epoch)"
        )


if __name__ == "__main__":
    main()
