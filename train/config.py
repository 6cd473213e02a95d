"""Training configuration: one frozen dataclass, validated on construction, saved as JSON.

Defaults are TempMe's MSR-VTT recipe (Shen et al., ICLR 2025, Sec. 4.1 and the reference code):
AdamW lr 6e-4, weight decay 0.2, betas (0.9, 0.999), eps 1e-6, batch 128, 5 epochs, 10 % linear
warmup then cosine decay, gradient clipping at 1.0, clip-consistent RandAugment, symmetric InfoNCE
with the CLIP temperature frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

from tempme.train.frames import DEFAULT_RANDAUG

from tempme.config import JsonConfig


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """How to train (the model itself is described by TempMeConfig, saved beside it).

    Attributes:
        train_csv: ``"9k"``, ``"7k"`` or a CSV file name in the data directory.
        val_videos: training videos held out (seeded) to select checkpoints; never the test split.
        epochs: passes over all training pairs (every caption of every training video).
        batch_size: pairs per optimizer step (InfoNCE negatives come from the whole batch).
        micro_batch_size: pairs per forward pass; smaller than ``batch_size`` accumulates
            gradients exactly (embeddings of the whole batch first, then per-chunk backward),
            so the loss still sees all ``batch_size`` negatives. 0 means ``batch_size``.
        lr, weight_decay, betas, eps: AdamW.
        warmup_fraction: share of the steps with linear warmup; cosine decay to 0 afterwards.
        grad_clip: max global gradient norm (0 disables).
        randaug: timm RandAugment config string, applied clip-consistently; "" disables.
        trainable: "adapter" (LoRA + temporal embeddings, the TempMe recipe) or "all" (every
            weight; for from-scratch experiments such as the synthetic dataset).
        evals_per_epoch: validation runs per epoch (checkpoint selection and the metrics log).
        max_steps: stop after this many optimizer steps (0: epochs decide).
        bf16: bf16 autocast on CUDA (ignored on CPU).
        num_workers: DataLoader worker processes.
        preload: decode every video once into memory (small datasets only).
        seed: data order, validation carve-out and augmentation.
        skip_missing: train without missing / unreadable videos instead of stopping.
        test: evaluate the final and the selected checkpoint on the 1k-A test split at the end.
    """

    train_csv: str = "9k"
    val_videos: int = 500
    epochs: int = 5
    batch_size: int = 128
    micro_batch_size: int = 0
    lr: float = 6e-4
    weight_decay: float = 0.2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-6
    warmup_fraction: float = 0.1
    grad_clip: float = 1.0
    randaug: str = DEFAULT_RANDAUG
    trainable: str = "adapter"
    evals_per_epoch: int = 1
    max_steps: int = 0
    bf16: bool = True
    num_workers: int = 4
    preload: bool = False
    seed: int = 0
    skip_missing: bool = False
    test: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.micro_batch_size == 0:
            object.__setattr__(self, "micro_batch_size", self.batch_size)
        checks = [
            (self.batch_size >= 2, f"batch_size must be >= 2 (InfoNCE needs negatives), got {self.batch_size}"),
            (
                1 <= self.micro_batch_size <= self.batch_size,
                f"micro_batch_size must be in [1, batch_size={self.batch_size}], got {self.micro_batch_size}",
            ),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.val_videos >= 0, f"val_videos must be >= 0, got {self.val_videos}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (
                len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
                f"betas must be two values in [0, 1), got {self.betas}",
            ),
            (self.eps > 0, f"eps must be > 0, got {self.eps}"),
            (0 <= self.warmup_fraction < 1, f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}"),
            (self.grad_clip >= 0, f"grad_clip must be >= 0, got {self.grad_clip}"),
            (self.trainable in ("adapter", "all"), f"trainable must be 'adapter' or 'all', got {self.trainable!r}"),
            (self.evals_per_epoch >= 1, f"evals_per_epoch must be >= 1, got {self.evals_per_epoch}"),
            (self.max_steps >= 0, f"max_steps must be >= 0, got {self.max_steps}"),
            (self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.randaug:
            from timm.data.auto_augment import rand_augment_transform

            try:
                rand_augment_transform(self.randaug, {})
            except Exception as e:  # timm raises AssertionError / ValueError / KeyError for bad strings
                raise ValueError(f"randaug {self.randaug!r} is not a timm RandAugment config: {e}") from None

    @property
    def accumulation_steps(self) -> int:
        """Forward chunks per optimizer step (the last chunk may be smaller)."""
        return -(-self.batch_size // self.micro_batch_size)
