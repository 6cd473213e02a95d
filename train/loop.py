"""The training loop: fine-tune a TempMe encoder with symmetric InfoNCE, on one GPU or a CPU.

Output directory::

    OUT/metrics.jsonl   one JSON line per evaluation (step, epoch, loss, lr, val metrics, speed)
    OUT/last/           the latest checkpoint, plus train_state.safetensors + train_state.json to
                        resume from (no pickle; see tempme.train.state)
    OUT/best/           the checkpoint selected on validation t2v R-Sum (never on test)
    OUT/results.json    final and selected checkpoints: validation and 1k-A test metrics

A checkpoint directory holds the adapter alone (safetensors, via ``VideoEncoder.save_adapter``),
the TempMe config, ``train_config.json`` and ``metrics.json``; ``tempme index --adapter OUT/best``
and ``tempme eval --adapter OUT/best`` load it. With ``trainable="all"`` the full set of trained
weights is also written as ``trainable.safetensors`` (experiments only; not an adapter).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from pathlib import Path

import torch
from open_clip.loss import ClipLoss
from safetensors.torch import load_file, save_file
from tempme.train.config import TrainConfig
from tempme.train.data import ClipDataset, collate, resolve_videos
from tempme.train.evaluate import evaluate, make_eval_dataset, one_caption_per_video
from tempme.train.frames import ClipRandAugment
from tempme.train.msrvtt import default_video_dir, load_msrvtt
from tempme.train.state import TrainState, TrainStateError, has_train_state, load_train_state, save_train_state
from torch.utils.data import DataLoader
from tqdm import tqdm
from transformers import get_cosine_schedule_with_warmup

from tempme.encoder import VideoEncoder
from tempme.lora import load_adapter

logger = logging.getLogger(__name__)

TRAINABLE_FILE = "trainable.safetensors"

clip_loss = ClipLoss()
"""Symmetric InfoNCE (CLIP, Radford et al. 2021, Fig. 3): ``clip_loss(video, text, logit_scale)`` on
(B, D) unit vectors, pair i positive; the mean of the video->text and text->video cross-entropies
(open_clip's loss, one process)."""


def lr_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over ``W = max(1, int(warmup_fraction * total_steps))`` steps, then cosine decay to 0.

    transformers' ``get_cosine_schedule_with_warmup``: optimizer step ``s`` (0-based) runs at
    ``lr * s / W`` for ``s < W`` and at ``lr * (1 + cos(pi * (s - W) / (total_steps - W))) / 2`` after.
    """
    warmup = max(1, int(warmup_fraction * total_steps))
    return get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)


def contrastive_step(enc: VideoEncoder, clips: torch.Tensor, captions: list[str], micro: int, autocast) -> float:
    """Forward + backward of one batch; returns the loss. Leaves the gradients in the parameters.

    With ``micro < B`` the batch is embedded chunk by chunk without a graph, the loss and its
    gradient with respect to the (B, D) embeddings are computed on the whole batch, and each chunk
    is embedded again with a graph and back-propagated with that gradient (gradient caching, Gao
    et al. 2021): the same gradient as one big batch, in the memory of one chunk.
    """
    scale = enc.logit_scale
    if micro >= len(captions):
        with autocast():
            loss = clip_loss(enc.encode_video(clips), enc.encode_text(captions), scale)
        loss.backward()
        return float(loss.detach())
    chunks = [slice(i, i + micro) for i in range(0, len(captions), micro)]
    with torch.no_grad(), autocast():
        v = torch.cat([enc.encode_video(clips[s]) for s in chunks]).float()  # (B, D)
        t = torch.cat([enc.encode_text(captions[s]) for s in chunks]).float()  # (B, D)
    v.requires_grad_(True)
    t.requires_grad_(True)
    loss = clip_loss(v, t, scale)
    loss.backward()  # fills v.grad, t.grad: (B, D)
    for s in chunks:
        with autocast():
            (enc.encode_video(clips[s]).float() * v.grad[s]).sum().backward()
            (enc.encode_text(captions[s]).float() * t.grad[s]).sum().backward()
    return float(loss.detach())


def _save_checkpoint(
    directory: Path, enc: VideoEncoder, cfg: TrainConfig, metrics: dict, state: TrainState | None
) -> None:
    """Write a checkpoint next to ``directory`` and swap it in, so a crash never leaves half a one."""
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    enc.save_adapter(tmp, meta={"step": metrics.get("step"), "encoder": enc.info.describe()})
    cfg.save(tmp / "train_config.json")
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if cfg.trainable == "all":
        named = {n: p.detach().contiguous().cpu() for n, p in enc.model.named_parameters() if p.requires_grad}
        save_file(named, str(tmp / TRAINABLE_FILE))
    if state is not None:
        save_train_state(tmp, state)
    old = directory.with_name(directory.name + ".old")
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def _load_weights(directory: Path, enc: VideoEncoder, cfg: TrainConfig) -> None:
    """Load a checkpoint's trained weights into ``enc`` (adapter, or every weight for "all")."""
    if cfg.trainable == "all":
        _, unexpected = enc.model.load_state_dict(load_file(str(directory / TRAINABLE_FILE)), strict=False)
        assert not unexpected, f"unexpected tensors in {directory / TRAINABLE_FILE}: {unexpected[:3]}"
    else:
        load_adapter(enc.model, directory)


def _val_score(val: dict) -> float:
    """Checkpoint selection criterion: validation text-to-video R@1 + R@5 + R@10."""
    return val["t2v"]["rsum"]


def train(
    enc: VideoEncoder,
    data_dir: Path,
    out_dir: Path,
    cfg: TrainConfig = TrainConfig(),
    video_dir: Path | None = None,
    resume: bool = True,
    progress: bool = True,
) -> dict:
    """Fine-tune ``enc`` on the MSR-VTT-layout dataset in ``data_dir``; returns the results dict.

    Raises MissingVideosError before training when videos are missing or unreadable (unless
    ``cfg.skip_missing``), MSRVTTFormatError for bad annotation files, FileExistsError when
    ``out_dir`` holds a run and ``resume`` is False, and TrainStateError when the run's resume
    state is unreadable, would need unpickling code (an old ``train_state.pt`` holding objects), or
    belongs to other trained weights.
    """
    out_dir, data_dir = Path(out_dir), Path(data_dir)
    video_dir = Path(video_dir) if video_dir else default_video_dir(data_dir)
    device = enc.device
    torch.manual_seed(cfg.seed)

    # --- data: pairs, video files (checked before anything trains), datasets -------------------
    ds = load_msrvtt(data_dir, cfg.train_csv, n_val=cfg.val_videos, seed=cfg.seed)
    splits = ["train", "val"] + (["test"] if cfg.test else [])
    paths, problems = resolve_videos(
        video_dir, [v for s in splits for v in ds.videos(s)], cfg.skip_missing, progress=progress
    )
    train_pairs = [p for p in ds.train if p.video_id in paths]
    val_pairs = one_caption_per_video([p for p in ds.val if p.video_id in paths])
    test_pairs = [p for p in ds.test if p.video_id in paths] if cfg.test else []
    if len(train_pairs) < cfg.batch_size:
        raise ValueError(f"{len(train_pairs)} training pairs is less than one batch of {cfg.batch_size}")
    augment = ClipRandAugment(cfg.randaug, seed=cfg.seed) if cfg.randaug else None
    train_set = ClipDataset(
        train_pairs, paths, enc.preprocess_frames, enc.num_frames, enc.image_size, augment, cfg.seed
    )
    val_set = make_eval_dataset(enc, val_pairs, paths) if val_pairs else None
    if cfg.preload:
        train_set.preload(progress)
        if val_set is not None:
            val_set.preload(progress)

    # --- what trains, optimizer, schedule -------------------------------------------------------
    if cfg.trainable == "all":
        for p in enc.model.parameters():
            p.requires_grad_(True)
    enc.model.logit_scale.requires_grad_(False)  # the CLIP temperature stays frozen
    params = [p for p in enc.model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: the encoder has no LoRA (lora_rank=0) and no temporal embeddings")
    decay = [p for p in params if p.ndim >= 2]  # no weight decay on biases and norm gains
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=cfg.betas,
        eps=cfg.eps,
        fused=device.type == "cuda",
    )
    steps_per_epoch = len(train_pairs) // cfg.batch_size
    total_steps = (
        cfg.epochs * steps_per_epoch if not cfg.max_steps else min(cfg.max_steps, cfg.epochs * steps_per_epoch)
    )
    scheduler = lr_schedule(optimizer, total_steps, cfg.warmup_fraction)
    eval_steps = {
        e * steps_per_epoch + max(1, round(k * steps_per_epoch / cfg.evals_per_epoch))
        for e in range(cfg.epochs)
        for k in range(1, cfg.evals_per_epoch + 1)
    } | {total_steps}
    use_bf16 = cfg.bf16 and device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else contextlib.nullcontext
    logger.info(
        "training %d parameters on %s: %d pairs, %d steps of %d (%d per forward), bf16 %s",
        sum(p.numel() for p in params),
        device,
        len(train_pairs),
        total_steps,
        cfg.batch_size,
        cfg.micro_batch_size,
        use_bf16,
    )

    # --- resume ---------------------------------------------------------------------------------
    step, best = 0, None
    last_dir, best_dir = out_dir / "last", out_dir / "best"
    if has_train_state(last_dir):
        if not resume:
            raise FileExistsError(
                f"{out_dir} already holds a run ({last_dir} has a training state); resume it or pick another --out"
            )
        state = load_train_state(last_dir)  # never unpickles
        named = {n: p for n, p in enc.model.named_parameters() if p.requires_grad}
        if state.trainable.keys() != named.keys() or any(named[n].shape != t.shape for n, t in state.trainable.items()):
            raise TrainStateError(
                f"the training state in {last_dir} was written for other trained weights ({len(state.trainable)} "
                f"tensors, this run trains {len(named)}): resume with the run's own config or pick another --out"
            )
        with torch.no_grad():
            for name, value in state.trainable.items():
                named[name].copy_(value)
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        step, best = state.step, state.best
        logger.info("resumed from %s at step %d of %d", last_dir, step, total_steps)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(out_dir / "train_config.json")
    enc.config.save(out_dir / "tempme_config.json")

    # --- the loop -------------------------------------------------------------------------------
    bar = tqdm(total=total_steps, initial=step, desc="train", disable=not progress, dynamic_ncols=True)
    losses: list[float] = []
    clips_seen, t_start = 0, time.perf_counter()
    enc.train()
    while step < total_steps:
        epoch, first_batch = divmod(step, steps_per_epoch)
        train_set.set_epoch(epoch)
        order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        order = order[: steps_per_epoch * cfg.batch_size][first_batch * cfg.batch_size :].tolist()  # resume mid-epoch
        loader = DataLoader(
            train_set,
            batch_size=cfg.batch_size,
            sampler=order,
            num_workers=cfg.num_workers,
            collate_fn=collate,
            drop_last=True,
            pin_memory=device.type == "cuda",
        )
        for clips, captions in loader:
            clips = clips.to(device, non_blocking=True)  # (B, T, 3, S, S)
            loss = contrastive_step(enc, clips, captions, cfg.micro_batch_size, autocast)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss)
            clips_seen += len(captions)
            lr = scheduler.get_last_lr()[0]
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")

            if step in eval_steps:
                elapsed = time.perf_counter() - t_start
                record = {
                    "step": step,
                    "epoch": step / steps_per_epoch,
                    "train_loss": sum(losses) / len(losses),
                    "lr": lr,
                    "clips_per_s": clips_seen / elapsed,
                }
                if val_set is not None:
                    val, _ = evaluate(enc, val_set, cfg.micro_batch_size, cfg.num_workers)
                    record["val"] = {k: m.to_dict() for k, m in val.items()}
                    if best is None or _val_score(record["val"]) > _val_score(best["val"]):
                        best = record
                        _save_checkpoint(best_dir, enc, cfg, record, None)
                with (out_dir / "metrics.jsonl").open("a") as f:
                    f.write(json.dumps(record) + "\n")
                state = TrainState(
                    step=step,
                    best=best,
                    optimizer=optimizer.state_dict(),
                    scheduler=scheduler.state_dict(),
                    trainable={n: p.detach().cpu() for n, p in enc.model.named_parameters() if p.requires_grad},
                )
                _save_checkpoint(last_dir, enc, cfg, record, state)
                logger.info("step %d: %s", step, json.dumps({k: v for k, v in record.items() if k != "val"}))
                losses, clips_seen, t_start = [], 0, time.perf_counter()
                enc.train()
            if step >= total_steps:
                break
    bar.close()
    enc.eval()

    # --- report the final and the selected checkpoint -------------------------------------------
    final = json.loads((last_dir / "metrics.json").read_text())
    results = {"final": {"dir": str(last_dir), **final}, "skipped_videos": len(problems)}
    if best is not None:
        results["selected"] = {"dir": str(best_dir), **best}
    if test_pairs:
        test_set = make_eval_dataset(enc, test_pairs, paths)
        test, _ = evaluate(enc, test_set, cfg.micro_batch_size, cfg.num_workers, progress)
        results["final"]["test"] = {k: m.to_dict() for k, m in test.items()}
        if best is not None:
            _load_weights(best_dir, enc, cfg)
            test, _ = evaluate(enc, test_set, cfg.micro_batch_size, cfg.num_workers, progress)
            results["selected"]["test"] = {k: m.to_dict() for k, m in test.items()}
            _load_weights(last_dir, enc, cfg)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results
