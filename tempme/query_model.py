"""Text queries without torch: an exported text tower run by onnxruntime, with its identity card.

A *query model* is a folder (inside a library, for instance) written by
:func:`tempme.query_export.export_query_model`::

    text_tower.onnx     the CLIP text tower with its LoRA folded in: (Q, L) int64 token ids ->
                        (Q, D) float32 L2-normalised embeddings, Q dynamic
    text_tower.onnx.data  its weights (ONNX external data; onnxruntime maps them into memory)
    tokenizer.json      CLIP's BPE vocabulary (:class:`tempme.tokenizer.CLIPTokenizer`)
    query_model.json    the sidecar: identity, its key, file sizes and sha256, opset, versions

The sidecar is written last (and removed first when a folder is exported again), so a folder
without one is incomplete. The *identity* (:class:`QueryModelIdentity`) lists everything that
decides the text vector of a query: architecture, weights, adapter hash, activation, context
length, output dimension, LoRA settings, opset and folder format. Its *key* is a sha256 of that
list. A reader computes the identity it expects from the encoder record a library keeps
(``EncoderInfo.to_dict()``, :meth:`QueryModelIdentity.from_encoder_record`) and compares keys:
another key, a missing file or a file of another size means *stale*, and the folder must be
exported again (or the torch text path used).

This module imports neither torch, open_clip, transformers nor gradio (a test checks
``sys.modules``): numpy, onnxruntime and :mod:`tempme.tokenizer` only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from tempme.tokenizer import CLIPTokenizer, TokenizerError

log = logging.getLogger(__name__)

FORMAT = 1  # the folder layout; a new layout makes every older folder stale
OPSET = 18  # ONNX opset of exported text towers (onnxruntime >= 1.14 runs it)
ONNX_FILE = "text_tower.onnx"
ONNX_DATA_FILE = "text_tower.onnx.data"  # its weights (ONNX external data), memory-mapped by onnxruntime
TOKENIZER_FILE = "tokenizer.json"
SIDECAR_FILE = "query_model.json"
INPUT_NAME = "tokens"
OUTPUT_NAME = "query_embedding"
DEFAULT_THREADS = 1  # one query of <= 77 tokens gains little from a thread team; a CLI starts cold


class QueryModelError(RuntimeError):
    """A query model folder is missing, incomplete, unreadable or stale (``reason`` says which)."""

    def __init__(self, directory: Path, reason: str) -> None:
        super().__init__(f"query model {directory}: {reason}")
        self.directory = Path(directory)
        self.reason = reason


def weights_fingerprint(pretrained: str) -> str:
    """What identifies the CLIP weights of ``pretrained`` (an encoder's ``--pretrained``).

    A tag, an ``hf-hub:`` id or ``none`` is its own fingerprint (tags name fixed files; ``none``
    is seeded). A local checkpoint file is ``file:<absolute path>:<bytes>:<mtime ns>``: a
    replaced or moved file makes exported towers stale without reading the file.
    """
    path = Path(os.path.expanduser(pretrained))
    if pretrained not in ("", "none") and path.is_file():
        st = path.stat()
        return f"file:{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return pretrained


@dataclass(frozen=True)
class QueryModelIdentity:
    """Everything that decides a query's text vector; equal identities give equal vectors.

    Attributes:
        arch: open_clip architecture (``ViT-B-32``, ``tempme-tiny``, ...).
        pretrained: the ``--pretrained`` value the encoder was built with.
        weights: :func:`weights_fingerprint` of ``pretrained``.
        adapter_hash: the LoRA/temporal adapter's hash (``tempme.lora.adapter_hash``), or None.
        quick_gelu: the towers' activation (None where a library did not record it).
        context_length: L, text tokens per query (TempMe: 32).
        embed_dim: D, the output dimension.
        lora_rank: LoRA rank of the encoder (0: none).
        lora_text: whether the text tower carries LoRA.
        opset: ONNX opset of the export.
        format: :data:`FORMAT` of the folder.
    """

    arch: str
    pretrained: str
    weights: str
    adapter_hash: Optional[str]
    quick_gelu: Optional[bool]
    context_length: int
    embed_dim: int
    lora_rank: int
    lora_text: bool
    opset: int = OPSET
    format: int = FORMAT

    @classmethod
    def from_encoder_record(cls, record: dict[str, Any], opset: int = OPSET) -> QueryModelIdentity:
        """The identity of the text tower of an encoder record (``EncoderInfo.to_dict()``).

        Raises:
            KeyError: the record lacks ``arch``, ``pretrained`` or ``embed_dim``.
        """
        config = record.get("config") or {}
        pretrained = str(record["pretrained"])
        return cls(
            arch=str(record["arch"]),
            pretrained=pretrained,
            weights=weights_fingerprint(pretrained),
            adapter_hash=record.get("adapter_hash"),
            quick_gelu=config.get("quick_gelu"),
            context_length=int(config.get("text_context", 32)),
            embed_dim=int(record["embed_dim"]),
            lora_rank=int(config.get("lora_rank", 8)),
            lora_text=bool(config.get("lora_text", True)),
            opset=opset,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def key(self) -> str:
        """sha256 (16 hex) of the identity as canonical JSON (sorted keys)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def differences(self, other: QueryModelIdentity) -> list[str]:
        """``field: ours != theirs`` for every field that differs (for staleness messages)."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{k}: {mine[k]!r} != {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_sidecar(directory: Path) -> dict[str, Any]:
    """The parsed ``query_model.json`` of ``directory``.

    Raises:
        QueryModelError: missing or not a query-model sidecar.
    """
    path = Path(directory) / SIDECAR_FILE
    if not path.is_file():
        raise QueryModelError(directory, f"missing ({SIDECAR_FILE} not found; export the text tower)")
    try:
        sidecar = json.loads(path.read_text())
        QueryModelIdentity(**sidecar["identity"])
        sidecar["key"], sidecar["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise QueryModelError(directory, f"unreadable {SIDECAR_FILE} ({type(e).__name__}: {e})") from None
    return sidecar


def check_query_model(
    directory: Path, expected: Optional[QueryModelIdentity] = None, verify: bool = False
) -> dict[str, Any]:
    """Check a query model folder; return its sidecar when it is complete and fresh.

    Args:
        directory: the folder.
        expected: the identity the caller needs (None: any).
        verify: also compare each file's sha256 with the sidecar (reads every byte: about
            0.3 s for a ViT-B text tower); otherwise sizes only.

    Raises:
        QueryModelError: missing, incomplete, corrupt, or stale (another identity); ``reason``
            names the differences.
    """
    directory = Path(directory)
    sidecar = read_sidecar(directory)
    found = QueryModelIdentity(**sidecar["identity"])
    if sidecar["key"] != found.key:
        raise QueryModelError(directory, f"corrupt {SIDECAR_FILE}: its key does not match its identity")
    if expected is not None and found.key != expected.key:
        raise QueryModelError(directory, "stale: " + "; ".join(found.differences(expected)))
    for name, meta in sidecar["files"].items():
        path = directory / name
        if not path.is_file():
            raise QueryModelError(directory, f"incomplete: {name} is missing")
        size = path.stat().st_size
        if size != meta["bytes"]:
            raise QueryModelError(directory, f"corrupt: {name} has {size} bytes, the sidecar says {meta['bytes']}")
        if verify and file_sha256(path) != meta["sha256"]:
            raise QueryModelError(directory, f"corrupt: {name} does not match its sha256 in {SIDECAR_FILE}")
    return sidecar


def query_model_state(directory: Path, expected: Optional[QueryModelIdentity] = None, verify: bool = False) -> str:
    """:func:`check_query_model` as a word: ``"fresh"``, or the ``reason`` it would raise
    (``"missing (...)"``, ``"stale: <field>: <found> != <expected>"``, ``"corrupt: ..."``, ...)."""
    try:
        check_query_model(directory, expected, verify=verify)
    except QueryModelError as e:
        return e.reason
    return "fresh"


class QueryModel:
    """Query text -> (Q, D) unit vectors with onnxruntime; the torch text path's numbers.

    Args:
        directory: a folder written by :func:`tempme.query_export.export_query_model`.
        expected: the identity the caller needs (e.g. from its library's encoder record);
            None accepts any complete folder.
        threads: onnxruntime intra-op threads (default 1: a cold CLI query).
        prepack: let onnxruntime pre-pack the MatMul weights when the session opens (default).
            False (``session.disable_prepacking``) suits a process that encodes one query:
            measured on ViT-B/32's text tower, opening 0.25 -> 0.05 CPU-s, one query 0.05 ->
            0.08 CPU-s (the same vectors within float rounding: tests/test_query_model.py).

    Raises:
        QueryModelError: as :func:`check_query_model`, or onnxruntime / the tokenizer cannot
            read the files.
    """

    def __init__(
        self,
        directory: Path,
        expected: Optional[QueryModelIdentity] = None,
        threads: int = DEFAULT_THREADS,
        prepack: bool = True,
    ):
        import onnxruntime as ort  # here: importing this module stays cheap

        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.directory = Path(directory)
        sidecar = check_query_model(self.directory, expected)
        self.identity = QueryModelIdentity(**sidecar["identity"])
        self.sidecar = sidecar
        try:
            self.tokenizer = CLIPTokenizer.from_file(self.directory / TOKENIZER_FILE, self.identity.context_length)
        except TokenizerError as e:
            raise QueryModelError(self.directory, str(e)) from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting threads
        if not prepack:
            options.add_session_config_entry("session.disable_prepacking", "1")
        try:
            self.session = ort.InferenceSession(
                str(self.directory / ONNX_FILE), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own Fail / InvalidGraph / ... types
            raise QueryModelError(self.directory, f"onnxruntime cannot load {ONNX_FILE}: {e}") from None
        (inp,), (out,) = self.session.get_inputs(), self.session.get_outputs()
        want = ((INPUT_NAME, self.identity.context_length), (OUTPUT_NAME, self.identity.embed_dim))
        if ((inp.name, inp.shape[1]), (out.name, out.shape[1])) != want:
            raise QueryModelError(
                self.directory,
                f"corrupt: the graph maps {inp.name} {inp.shape} -> {out.name} {out.shape}, "
                f"the sidecar says (Q, {self.identity.context_length}) -> (Q, {self.identity.embed_dim})",
            )
        self.threads = threads

    @property
    def embed_dim(self) -> int:
        return self.identity.embed_dim

    @property
    def context_length(self) -> int:
        return self.identity.context_length

    def tokenize(self, texts: Sequence[str]) -> np.ndarray:
        """(Q,) strings -> (Q, L) int64 ids (open_clip's tokenizer; longer texts truncated)."""
        if isinstance(texts, str):
            raise TypeError("encode expects a list of strings, not one string")
        return self.tokenizer(list(texts), self.context_length)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(Q,) strings -> (Q, D) float32 L2-normalised text embeddings.

        The same vectors as ``VideoEncoder.encode_text`` of the exported encoder (within float
        rounding: cosine >= 1 - 1e-6, tests/test_query_model.py).

        Raises:
            TypeError: ``texts`` is one string or holds a non-string.
        """
        tokens = self.tokenize(texts)  # (Q, L)
        if tokens.shape[0] == 0:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        (out,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: tokens})
        return np.ascontiguousarray(out, dtype=np.float32)  # (Q, D), normalised in the graph
