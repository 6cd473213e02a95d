"""tempme: TempMe video encoding on open_clip (token merging + LoRA) and video-LLM token reducers.

The public entry point is :func:`tempme.encoder.load_encoder`. This package never imports the
``index``, ``app`` or ``train`` packages.
"""

__version__ = "0.1.0"
