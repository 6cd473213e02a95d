"""`tempme train`, `tempme eval` and `tempme synth` (registered by app/cli/__init__.py).

Heavy imports (torch, open_clip) happen inside the commands so that `tempme --help` stays fast.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from tempme.cli_errors import fail
from tempme.cli_options import AdapterOpt, DeviceOpt, ModelOpt, PretrainedOpt, QuickGeluOpt

logger = logging.getLogger(__name__)

DataOpt = Annotated[
    Path,
    typer.Option("--data", help="MSR-VTT directory: MSRVTT_data.json, MSRVTT_train.9k.csv, MSRVTT_JSFUSION_test.csv."),
]
VideosOpt = Annotated[
    Optional[Path],
    typer.Option("--videos", help="Folder of <video_id>.mp4/.webm files; default DATA/videos (or DATA/videos/all)."),
]
SkipMissingOpt = Annotated[
    bool,
    typer.Option("--skip-missing", help="Skip (and count) missing or unreadable videos instead of stopping."),
]


def _encoder(
    model: str,
    pretrained: str,
    adapter: Optional[Path],
    device: Optional[str],
    merging: bool,
    zero_shot: bool,
    quick_gelu: Optional[bool] = None,
):
    from tempme.config import TempMeConfig
    from tempme.encoder import load_encoder
    from tempme.lora import AdapterError, read_adapter_config
    from tempme.weights import WeightsUnavailableError

    if zero_shot and adapter is not None:
        fail("--zero-shot evaluates the plain CLIP model; it cannot be combined with --adapter")
    try:
        if zero_shot:  # per-frame CLIP, mean pooling, no LoRA, no temporal embeddings
            from tempme.train.evaluate import zero_shot_config

            config = zero_shot_config(model)
        elif adapter is not None:
            config = read_adapter_config(adapter)
        else:
            config = TempMeConfig.preset(model)
        if not merging:
            config = config.replace(merging=False)
        return load_encoder(
            model=model, pretrained=pretrained, adapter=adapter, device=device, config=config, quick_gelu=quick_gelu
        )
    except (WeightsUnavailableError, AdapterError, ValueError) as e:
        fail(str(e))


def train_command(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="Run directory (checkpoints, metrics.jsonl, results.json).")],
    videos: VideosOpt = None,
    config: Annotated[
        Optional[Path], typer.Option("--config", help="JSON file of TrainConfig fields (options below override it).")
    ] = None,
    model: ModelOpt = "ViT-B-32",
    pretrained: PretrainedOpt = "openai",
    quick_gelu: QuickGeluOpt = None,
    adapter: AdapterOpt = None,
    device: DeviceOpt = None,
    merging: Annotated[
        bool, typer.Option("--merging/--no-merging", help="TempMe merging, or the mean-pooling baseline.")
    ] = True,
    train_csv: Annotated[Optional[str], typer.Option("--train-csv", help="9k, 7k or a CSV file name in DATA.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Pairs per optimizer step.")] = None,
    micro_batch_size: Annotated[
        Optional[int], typer.Option("--micro-batch-size", help="Pairs per forward pass (exact accumulation).")
    ] = None,
    lr: Annotated[Optional[float], typer.Option("--lr")] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps")] = None,
    val_videos: Annotated[
        Optional[int], typer.Option("--val-videos", help="Training videos held out for selection.")
    ] = None,
    trainable: Annotated[Optional[str], typer.Option("--trainable", help="adapter (default) or all.")] = None,
    randaug: Annotated[Optional[str], typer.Option("--randaug", help="timm RandAugment string; '' disables.")] = None,
    num_workers: Annotated[Optional[int], typer.Option("--num-workers")] = None,
    evals_per_epoch: Annotated[Optional[int], typer.Option("--evals-per-epoch")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed")] = None,
    preload: Annotated[
        Optional[bool], typer.Option("--preload/--no-preload", help="Decode all videos into memory first.")
    ] = None,
    test: Annotated[
        Optional[bool], typer.Option("--test/--no-test", help="Evaluate on the 1k-A test at the end.")
    ] = None,
    skip_missing: SkipMissingOpt = False,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue OUT/last if present.")] = True,
) -> None:
    """Fine-tune TempMe adapters on MSR-VTT (the paper's recipe by default); resumable."""
    from tempme.train.config import TrainConfig
    from tempme.train.loop import train
    from tempme.train.metrics import RetrievalMetrics, format_table

    overrides = {
        k: v
        for k, v in dict(
            train_csv=train_csv,
            epochs=epochs,
            batch_size=batch_size,
            micro_batch_size=micro_batch_size,
            lr=lr,
            max_steps=max_steps,
            val_videos=val_videos,
            trainable=trainable,
            randaug=randaug,
            num_workers=num_workers,
            evals_per_epoch=evals_per_epoch,
            seed=seed,
            preload=preload,
            test=test,
        ).items()
        if v is not None
    }
    if skip_missing:
        overrides["skip_missing"] = True
    try:
        base = json.loads(config.read_text()) if config else {}
        cfg = TrainConfig.from_dict({**base, **overrides})
    except (ValueError, OSError) as e:
        fail(str(e))
    enc = _encoder(model, pretrained, adapter, device, merging, zero_shot=False, quick_gelu=quick_gelu)
    try:
        results = train(enc, data, out, cfg, video_dir=videos, resume=resume)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        fail(str(e))
    for name in ("final", "selected"):
        if "test" in results.get(name, {}):
            table = {
                k: RetrievalMetrics(**{f: v[f] for f in ("r1", "r5", "r10", "mdr", "mnr", "num_queries")})
                for k, v in results[name]["test"].items()
            }
            typer.echo(format_table(table, f"{name} (step {results[name]['step']}), MSR-VTT 1k-A test"))
    typer.echo(f"results: {Path(out) / 'results.json'}")


def eval_command(
    data: DataOpt,
    videos: VideosOpt = None,
    model: ModelOpt = "ViT-B-32",
    pretrained: PretrainedOpt = "openai",
    quick_gelu: QuickGeluOpt = None,
    adapter: AdapterOpt = None,
    device: DeviceOpt = None,
    zero_shot: Annotated[
        bool, typer.Option("--zero-shot", help="Plain CLIP: no adapter, no merging, mean pooling of frame embeddings.")
    ] = False,
    merging: Annotated[bool, typer.Option("--merging/--no-merging", help="TempMe merging, or mean pooling.")] = True,
    output: Annotated[Path, typer.Option("--output", help="JSON file for the metrics.")] = Path("tempme-eval.json"),
    batch_size: Annotated[int, typer.Option("--batch-size", help="Videos per forward pass.")] = 32,
    num_workers: Annotated[int, typer.Option("--num-workers")] = 4,
    skip_missing: SkipMissingOpt = False,
) -> None:
    """Text-to-video and video-to-text R@1/5/10, MdR, MnR, R-Sum on the MSR-VTT 1k-A test split."""
    from tempme.train.data import resolve_videos
    from tempme.train.evaluate import evaluate, make_eval_dataset
    from tempme.train.metrics import format_table
    from tempme.train.msrvtt import default_video_dir, read_test

    try:
        test = read_test(data)
        paths, problems = resolve_videos(
            videos or default_video_dir(data), [p.video_id for p in test], skip_missing, True
        )
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    pairs = [p for p in test if p.video_id in paths]
    enc = _encoder(model, pretrained, adapter, device, merging, zero_shot, quick_gelu)
    metrics, _ = evaluate(enc, make_eval_dataset(enc, pairs, paths), batch_size, num_workers, progress=True)
    title = f"MSR-VTT 1k-A test, {enc.info.describe()}, {len(pairs)} queries"
    if problems:
        title += f" ({len(problems)} skipped: not the full 1k-A)"
    typer.echo(format_table(metrics, title))
    result = {
        "encoder": enc.info.to_dict(),
        "zero_shot": zero_shot,
        "num_queries": len(pairs),
        "skipped_videos": len(problems),
        **{k: m.to_dict() for k, m in metrics.items()},
    }
    output.write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(f"wrote {output}")


def synth_command(
    out_dir: Annotated[Path, typer.Argument(help="Empty or new folder for the dataset.")],
    num_train: Annotated[int, typer.Option("--num-train", help="Training videos.")] = 1000,
    num_test_twins: Annotated[int, typer.Option("--num-test-twins", help="Test pairs that differ only in order.")] = 40,
    num_test_single: Annotated[int, typer.Option("--num-test-single", help="Other test videos.")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Write a synthetic dataset in the MSR-VTT layout (shapes that move, where, in what order)."""
    from tempme.train.synth import SynthConfig, write_synth

    try:
        cfg = SynthConfig(
            num_train=num_train, num_test_twins=num_test_twins, num_test_single=num_test_single, seed=seed
        )
        write_synth(out_dir, cfg, progress=True)
    except (ValueError, FileExistsError) as e:
        fail(str(e))
    typer.echo(f"wrote {out_dir}: train with `tempme train --data {out_dir} --model tempme-tiny --pretrained none ...`")


COMMANDS = {"train": train_command, "eval": eval_command, "synth": synth_command}
