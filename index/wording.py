"""Counts and times in people's words: the one pluralisation helper of the page, the CLI and the
API, and the two time formats (``format_time``, ``format_clock``).

``plural(1, "moment")`` is ``"1 moment"``, ``plural(12, "moment")`` ``"12 moments"``: never
``"1 moments"`` nor ``"video(s)"``. English rules for the last word of the noun (``"good
match"`` -> ``"good matches"``, ``"copy"`` -> ``"copies"``), a few irregular nouns, and an
explicit plural form for anything else.
"""

from __future__ import annotations

import re
from numbers import Integral

IRREGULAR = {
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "index": "indexes",  # the database sense, not "indices"
    "analysis": "analyses",
    "series": "series",
    "fps": "fps",
}


def plural_form(noun: str) -> str:
    """The plural of ``noun`` (its last word changes): ``"box"`` -> ``"boxes"``, ``"day"`` ->
    ``"days"``, ``"query"`` -> ``"queries"``, ``"person"`` -> ``"people"``; the case of a
    capitalised word is kept.

    Raises:
        ValueError: an empty noun."""
    head, sep, last = noun.rstrip().rpartition(" ")
    if not last:
        raise ValueError("empty noun")
    lower = last.lower()
    if lower in IRREGULAR:
        out = IRREGULAR[lower]
        out = out.capitalize() if last[0].isupper() else out
    elif re.search(r"(s|x|z|ch|sh)$", lower):
        out = last + "es"
    elif re.search(r"[^aeiou]y$", lower):
        out = last[:-1] + "ies"
    else:
        out = last + "s"
    return f"{head}{sep}{out}"


def plural(n: int, noun: str, many: str | None = None, *, zero: str | None = None) -> str:
    """``n`` and ``noun`` in agreement: ``plural(1, "video")`` -> ``"1 video"``,
    ``plural(2, "match")`` -> ``"2 matches"``, ``plural(1200, "segment")`` -> ``"1,200 segments"``.

    Args:
        n: the count (any integer, NumPy's too; 1 and -1 take the singular).
        noun: the singular, possibly several words (the last one is made plural).
        many: the plural form when the rules get it wrong (``plural(3, "cactus", "cacti")``).
        zero: the word for none, e.g. ``zero="no"``: ``plural(0, "moment", zero="no")`` ->
            ``"no moments"``.

    Raises:
        TypeError: ``n`` is not an integer (``True`` / ``False`` included).
        ValueError: an empty noun.
    """
    if isinstance(n, bool) or not isinstance(n, Integral):
        raise TypeError(f"plural counts whole things; got {n!r}")
    n = int(n)
    word = noun if abs(n) == 1 else (many or plural_form(noun))
    count = zero if (n == 0 and zero is not None) else f"{n:,}"
    return f"{count} {word}"


def format_time(seconds: float) -> str:
    """``75.25`` -> ``"1:15.2"``; hours when needed (``"1:02:03.0"``)."""
    seconds = max(0.0, float(seconds))
    minutes, sec = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{sec:04.1f}"
    return f"{minutes}:{sec:04.1f}"


def format_clock(seconds: float, up: bool = False) -> str:
    """Whole seconds for people: ``41.7`` -> ``"0:41"`` (``"0:42"`` with ``up``); ``"1:02:03"`` with hours."""
    import math

    total = int(math.ceil(float(seconds) - 1e-6) if up else math.floor(max(0.0, float(seconds))))
    hours, rest = divmod(max(0, total), 3600)
    minutes, sec = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"
