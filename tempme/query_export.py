"""Export an encoder's text tower, LoRA folded in, to ONNX for the torch-free query path.

:func:`export_query_model` writes the folder that :class:`tempme.query_model.QueryModel` reads
(layout and staleness rule in that module). The graph is :class:`TextTower`: a copy of open_clip's
``CLIP.encode_text`` (token embedding, positional embedding, causal transformer, ``ln_final``,
pooling at the end-of-text token, projection) followed by L2 normalisation, with every peft LoRA
update of the text attention folded into ``in_proj_weight`` (:func:`tempme.lora.fold_lora`) on a
copy, so the encoder passed in is not changed. The exporter is torch's ``torch.export``-based one
(``torch.onnx.export(..., dynamo=True)``, which needs ``onnxscript``), with a dynamic batch axis Q
and a fixed context length L.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tempme.lora import fold_lora
from tempme.query_model import (
    FORMAT,
    INPUT_NAME,
    ONNX_DATA_FILE,
    ONNX_FILE,
    OPSET,
    OUTPUT_NAME,
    SIDECAR_FILE,
    TOKENIZER_FILE,
    QueryModelIdentity,
    file_sha256,
)
from tempme.tokenizer import CLIPTokenizer

log = logging.getLogger(__name__)

EXAMPLE_TEXTS = ["a photo of a dog", "a video"]  # Q = 2: torch.export specialises a dimension traced at size 1


class TextTower(nn.Module):
    """The CLIP text tower of an encoder, LoRA folded: (Q, L) int64 ids -> (Q, D) unit float32.

    Built from a copy of the encoder's open_clip ``CLIP`` text parts; computes what
    ``VideoEncoder.encode_text`` does (open_clip ``CLIP.encode_text`` then ``F.normalize``).

    Args:
        clip: an open_clip ``CLIP`` (``encoder.model``), with or without peft LoRA.

    Raises:
        ValueError: a text tower this export does not cover (a pooling other than argmax /
            eos, or a custom text model).
    """

    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        pool = getattr(clip, "text_pool_type", None)
        if pool not in ("argmax", "eos") or not hasattr(clip, "token_embedding"):
            raise ValueError(f"cannot export this text tower (pooling {pool!r}; open_clip CLIP text towers only)")
        self.pool = pool
        self.eos_id = getattr(clip, "text_eos_id", None)
        self.token_embedding = copy.deepcopy(clip.token_embedding)
        self.transformer = copy.deepcopy(clip.transformer)
        self.ln_final = copy.deepcopy(clip.ln_final)
        self.positional_embedding = nn.Parameter(clip.positional_embedding.detach().clone(), requires_grad=False)
        proj = clip.text_projection
        self.text_projection = copy.deepcopy(proj) if isinstance(proj, nn.Module) else proj.detach().clone()
        self.register_buffer("attn_mask", None if clip.attn_mask is None else clip.attn_mask.clone(), persistent=False)
        self.folded = fold_lora(self)  # peft ParamWrapper -> plain MultiheadAttention with W + B A
        self.eval()

    @property
    def context_length(self) -> int:
        return int(self.positional_embedding.shape[0])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(Q, L) int64 token ids -> (Q, D) float32 L2-normalised embeddings."""
        x = self.token_embedding(tokens) + self.positional_embedding  # (Q, L, C)
        x = self.transformer(x, attn_mask=self.attn_mask)
        x = self.ln_final(x)
        if self.pool == "argmax":  # the end-of-text token has the highest id
            idx = tokens.argmax(dim=-1)
        else:
            idx = (tokens == self.eos_id).int().argmax(dim=-1)
        x = torch.gather(x, 1, idx[:, None, None].expand(-1, 1, x.shape[-1])).squeeze(1)  # (Q, L, C) -> (Q, C)
        x = self.text_projection(x) if isinstance(self.text_projection, nn.Module) else x @ self.text_projection
        return F.normalize(x.float(), dim=-1)  # (Q, D)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def export_query_model(encoder: Any, directory: Path, opset: int = OPSET) -> dict[str, Any]:
    """Write ``encoder``'s text tower and tokenizer to ``directory`` as a query model.

    Args:
        encoder: a ``tempme.encoder.VideoEncoder`` (its ``model``, ``info`` and ``config``).
        directory: created if needed; an earlier query model there is replaced (its sidecar is
            removed first, so an interrupted export leaves a folder readers call missing).
        opset: ONNX opset.

    Returns:
        The sidecar written to ``query_model.json``.

    Raises:
        ValueError: the text tower cannot be exported (see :class:`TextTower`).
        torch.onnx.OnnxExporterError: the exporter failed (``onnxscript`` missing, ...).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SIDECAR_FILE).unlink(missing_ok=True)
    identity = QueryModelIdentity.from_encoder_record(encoder.info.to_dict(), opset=opset)
    t0 = time.perf_counter()
    tower = TextTower(encoder.model).cpu().float()
    if tower.context_length != identity.context_length:
        raise ValueError(
            f"text tower has {tower.context_length} positions, the encoder records {identity.context_length}"
        )
    tokenizer = CLIPTokenizer.from_open_clip(identity.context_length)
    example = torch.from_numpy(tokenizer(EXAMPLE_TEXTS))  # (Q, L)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=directory))
    try:
        with torch.no_grad():
            torch.onnx.export(
                tower,
                (example,),
                str(staging / ONNX_FILE),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes={"tokens": {0: torch.export.Dim("Q", min=1, max=65536)}},
                opset_version=opset,
                # weights in text_tower.onnx.data, which onnxruntime maps into memory instead of
                # parsing and copying them (ViT-B/32: 0.17 CPU-s to open a session instead of 0.5)
                external_data=True,
                verbose=False,
            )
        tokenizer.save(staging / TOKENIZER_FILE)
        names = sorted(p.name for p in staging.iterdir())
        if set(names) != {ONNX_FILE, ONNX_DATA_FILE, TOKENIZER_FILE}:
            raise RuntimeError(f"unexpected files from the ONNX exporter: {names}")
        files = {
            name: {"bytes": (staging / name).stat().st_size, "sha256": file_sha256(staging / name)} for name in names
        }
        for name in names:  # the ONNX file names its data file: both keep their names
            os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    sidecar = {
        "format": FORMAT,
        "key": identity.key,
        "identity": identity.to_dict(),
        "files": files,
        "input": {"name": INPUT_NAME, "dtype": "int64", "shape": ["Q", identity.context_length]},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["Q", identity.embed_dim], "l2_normalised": True},
        "lora_layers_folded": tower.folded,
        "exporter": {
            "torch.onnx": "dynamo",
            **{d: _version(d) for d in ("torch", "onnx", "onnxscript", "open-clip-torch", "tokenizers")},
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp_side = directory / f".{SIDECAR_FILE}.tmp"
    tmp_side.write_text(json.dumps(sidecar, indent=2) + "\n")
    os.replace(tmp_side, directory / SIDECAR_FILE)  # last: its presence means complete
    log.info(
        "exported the text tower of %s to %s (%d LoRA layers folded, %.1f MB) in %.1f s",
        identity.arch,
        directory,
        tower.folded,
        sum(f["bytes"] for f in files.values()) / 1e6,
        time.perf_counter() - t0,
    )
    return sidecar
