"""One settings object for the library's tunables: threads, nprobe, limits (env prefix ``TEMPME_``).

Each field can be set from the environment by its upper-case name with the prefix
(``TEMPME_NPROBE=64``, ``TEMPME_TORCH_THREADS=2``); :func:`get_settings` reads the environment
once per process. Entry points apply the thread settings once
(:func:`tempme.index.query.set_search_threads`); the other parts read their defaults here, so
each value is defined in this one place.

A frozen dataclass rather than pydantic-settings: importing that costs about a second on these
machines, which every ``tempme`` command would pay.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

ENV_PREFIX = "TEMPME_"


@dataclass(frozen=True)
class Settings:
    """The library's tunables; see the module docstring.

    Raises:
        ValueError: a value below its minimum (1 for counts, > 0 for seconds).
    """

    nprobe: int = 128  # IVF inverted lists probed per query (recall@10 0.96 at 1e6, bench/search.py)
    torch_threads: int = 1  # torch threads of a search process (one 32-token query gains nothing from more)
    faiss_threads: int = 1  # OpenMP threads of FAISS in a search process (one query vector at a time)
    query_cache: int = 256  # text embeddings kept per library (LRU)
    query_batch: int = 32  # most queries per text-tower forward (micro-batching)
    file_timeout_s: float = 1800.0  # longest decode of one file while indexing (s)
    flush_every: int = 16  # videos committed between two saves of the vector index
    # export the text tower at index time for torch-free queries (docs/query.md); 0: never
    query_model: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool) and value <= 0:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()} ({f.name}) must be > 0, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The defaults, overridden by ``TEMPME_<NAME>`` variables of ``environ`` (default: the
        process environment).

        Raises:
            ValueError: a variable that is not a number of the field's type, or out of range
                (the message names the variable).
        """
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name in environ:
                if f.type in (bool, "bool"):
                    values[f.name] = parse_switch(name, environ[name])
                    continue
                whole = f.type in (int, "int")
                try:
                    values[f.name] = int(environ[name]) if whole else float(environ[name])
                except ValueError:
                    what = "a whole number" if whole else "a number"
                    raise ValueError(f"{name}={environ[name]!r}: expected {what}") from None
        return cls(**values)


SWITCH_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def parse_switch(name: str, text: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case). Raises ValueError naming ``name``."""
    try:
        return SWITCH_WORDS[text.strip().lower()]
    except KeyError:
        raise ValueError(f"{name}={text!r}: expected 1 or 0 (true/false, yes/no, on/off)") from None


@functools.cache
def get_settings() -> Settings:
    """The process's settings (read from the environment on the first call)."""
    return Settings.from_env()
