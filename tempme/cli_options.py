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
    typer.Option(
        "--model",
        help="open_clip architecture with a TempMe preset: ViT-B-32 or ViT-B-16 (or their -quickgelu names).",
    ),
]
PretrainedOpt = Annotated[
    str,
    typer.Option(
        "--pretrained",
        help="An open_clip tag ('openai', 'laion2b_s34b_b79k', ...; downloaded once and cached), "
        "'hf-hub:org/repo', a local checkpoint file (OpenAI's ViT-B-32.pt, an open_clip .bin or "
        ".safetensors), or 'none' (random weights: results are not semantic).",
    ),
]
QuickGeluOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--quick-gelu/--no-quick-gelu",
        help="Activation of a local state-dict file, which cannot tell: QuickGELU (OpenAI's weights, "
        "open_clip's laion400m / metaclip tags) or GELU. Default: the file's cached tag, else the "
        "architecture's open_clip config (logged). Tags, hf-hub ids and OpenAI archives know theirs.",
        show_default=False,
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
