"""The checks of a search-by-example request (the page's ``/search_example``, the REST API's
``POST /search`` with an example) and of a results offset; a person's mistake raises
`InputError` with a one-line message, as in :mod:`tempme.app.validate`."""

from __future__ import annotations

import math
from pathlib import Path

from tempme.app.validate import InputError, clean_k, make_filters

MAX_OFFSET = 10_000
"""Deepest page start accepted (results skipped before the first one returned)."""
EXAMPLE_OPTIONS = frozenset(
    {"text", "k", "offset", "mode", "sort", "text_weight", "folder", "min_duration_s", "max_duration_s",
     "extensions", "after", "before", "start_s", "end_s", "include_self"}
)  # fmt: skip
"""The keys of a search-by-example request (``/search_example``, a REST body)."""


def clean_offset(offset: float | int | str | None) -> int:
    """Results to skip, 0..`MAX_OFFSET` (None or empty: 0). Raises InputError otherwise."""
    if offset is None or offset == "":
        return 0
    try:
        value = float(offset)
    except (TypeError, ValueError):
        raise InputError(f"The offset must be a whole number from 0 to {MAX_OFFSET}, got {offset!r}.") from None
    if isinstance(offset, bool) or not math.isfinite(value) or value != int(value) or not 0 <= value <= MAX_OFFSET:
        raise InputError(f"The offset must be a whole number from 0 to {MAX_OFFSET}, got {offset!r}.")
    return int(value)


def example_request(example, request: dict | None) -> tuple[Path, dict]:
    """A search-by-example request checked: ``example`` the uploaded file (a path, or a dict
    with its ``path`` as Gradio's file data gives it), ``request`` the options (keys in
    `EXAMPLE_OPTIONS`). Returns the file and the keywords of
    ``SearchService.search_example(path, **keywords)`` (query, k, filters, offset, mode, sort,
    text_weight, and the span's start_s, end_s, include_self).

    Raises:
        InputError: no file, options that are not a dict or have unknown keys, a text weight
            outside [0, 1], and whatever `make_filters`, `clean_k`, `clean_offset` refuse.
    """
    if isinstance(example, dict):
        example = example.get("path")
    if not isinstance(example, (str, Path)) or not str(example):
        raise InputError("Give an example: an image or a video clip.")
    req = {} if request is None else request
    if not isinstance(req, dict):
        raise InputError(f"The request must be an object of options, got {type(req).__name__}.")
    unknown = sorted(set(req) - EXAMPLE_OPTIONS)
    if unknown:
        raise InputError(f"Unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(EXAMPLE_OPTIONS))}.")
    if not isinstance(req.get("text") or "", str):
        raise InputError(f"The text must be text, got {type(req['text']).__name__}.")
    if not isinstance(req.get("include_self", False), bool):
        raise InputError(f"include_self must be true or false, got {req['include_self']!r}.")
    weight = req.get("text_weight")
    if weight is not None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise InputError(f"The text weight must be a number from 0 to 1, got {weight!r}.")
        weight = float(weight)
    filters = make_filters(
        req.get("folder"), req.get("min_duration_s"), req.get("max_duration_s"), req.get("extensions"),
        req.get("after"), req.get("before"),
    )  # fmt: skip
    out = {"query": req.get("text"), "k": clean_k(req.get("k", 10)), "filters": filters,
           "offset": clean_offset(req.get("offset")), "mode": req.get("mode") or "all",
           "sort": req.get("sort") or "relevance", "text_weight": weight}  # fmt: skip
    for name in ("start_s", "end_s", "include_self"):
        if req.get(name) not in (None, ""):
            out[name] = req[name]
    return Path(example), out
