"""tempme: TempMe video encoding on open_clip (token merging + LoRA) and video-LLM token reducers.

The public entry point is :func:`tempme.encoder.load_encoder`. The core modules never import
``tempme.index``, ``tempme.app`` or ``tempme.train`` (import-linter contract in pyproject.toml);
only ``tempme/__main__.py``, the ``python -m tempme`` entry point, imports the CLI.
"""

__version__ = "0.1.0"
