"""Typer option types shared by every command that builds an encoder.

`tempme index`, `tempme train` and `tempme eval` take the same encoder options; they are
declared once here so that the spelling, defaults and help text cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ModelOpt = Annotated[
    str,
    typer.Option("--model", help="open_clip architecture with a TempMe preset: ViT-B-32 or ViT-B-16."),
]
PretrainedOpt = Annotated[
    str,
    typer.Option(
        "--pretrained",
        help="'openai' (open_clip downloads and caches), a local checkpoint file, "
        "or 'none' (random weights: results are not semantic).",
    ),
]
AdapterOpt = Annotated[
    Optional[Path],
    typer.Option("--adapter", help="Directory with TempMe adapter weights (safetensors + JSON config)."),
]
DeviceOpt = Annotated[
    Optional[str],
    typer.Option("--device", help="torch device; default: cuda when available, else cpu."),
]
