"""The errors of loading an encoder, importable without torch (the CLI catches them around a run
without importing the modules that raise them: :mod:`tempme.weights`, :mod:`tempme.lora`)."""

from __future__ import annotations


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be obtained (offline, or a bad local file)."""


class AdapterError(ValueError):
    """An adapter folder is missing, malformed, or does not fit the model."""
