"""A library's first run, as the page meets it: the encoders it offers for a new library, what
it says while there is no library (or no encoder) yet, and the check of the person's choice.

Plain functions of the library folder (`app.context.AppContext` calls them); no torch imported
unless downloaded weights are listed (`app.validate.weight_choices`).
"""

from __future__ import annotations

from pathlib import Path

from tempme.app.validate import InputError, clean_encoder_choice, weight_choices
from tempme.index import EncoderSpec

ARCHITECTURES = ("ViT-B-32", "ViT-B-16", "tempme-tiny")
"""Models the page offers for a new library (tempme.weights.SUPPORTED_ARCHS, without importing torch)."""


def start_message(library_dir: Path, exists: bool) -> str:
    """How to start a library that does not exist yet (``exists`` False) or is empty, for the page."""
    where = f"No videos in {library_dir}" if exists else f"No library at {library_dir}"
    return (
        f"{where} yet. To start: open **Add videos** below, choose the "
        f"encoder, and upload videos; or run `tempme --library {library_dir} index VIDEO_DIR`."
    )


def no_encoder(library_dir: Path) -> InputError:
    """The error for adding videos to a library that has no encoder and was given none."""
    return InputError(
        f"The library at {library_dir} has no encoder yet: choose one under *Start the "
        f"library* (in Add videos), or run "
        f"`tempme --library {library_dir} index VIDEO_DIR --model ... --pretrained ...`."
    )


def encoder_choice(
    arch: str | None, weights: str | None, weights_file: str | None, adapter: str | None, confirmed: bool
) -> EncoderSpec:
    """Check the page's first-run encoder choice (`app.validate.clean_encoder_choice`; the
    weights offered are those of `weight_choices`). Raises InputError for a bad choice."""
    offline = [v for _, v in weight_choices(arch)] if arch in ARCHITECTURES else []
    return clean_encoder_choice(
        arch, weights, weights_file, adapter, confirmed, architectures=ARCHITECTURES, offline_tags=offline
    )
