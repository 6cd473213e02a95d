"""The one pluralisation helper (index/wording.py), against hand-written English."""

from __future__ import annotations

import numpy as np
import pytest
from tempme.index.wording import plural, plural_form


@pytest.mark.parametrize(
    "n, noun, expected",
    [
        (1, "moment", "1 moment"),
        (12, "moment", "12 moments"),
        (0, "moment", "0 moments"),
        (1, "video", "1 video"),
        (2, "video", "2 videos"),
        (2, "good match", "2 good matches"),
        (3, "box", "3 boxes"),
        (2, "bus", "2 buses"),
        (2, "wish", "2 wishes"),
        (2, "query", "2 queries"),
        (2, "day", "2 days"),
        (2, "copy", "2 copies"),
        (2, "person", "2 people"),
        (2, "Person", "2 People"),
        (2, "failed index", "2 failed indexes"),
        (2, "series", "2 series"),
        (-1, "degree", "-1 degree"),
        (1200, "segment", "1,200 segments"),
    ],
)
def test_plural(n, noun, expected):
    assert plural(n, noun) == expected


def test_plural_options_and_errors():
    assert plural(0, "moment", zero="no") == "no moments"
    assert plural(1, "moment", zero="no") == "1 moment"
    assert plural(3, "cactus", "cacti") == "3 cacti" and plural(1, "cactus", "cacti") == "1 cactus"
    assert plural(np.int64(2), "clip") == "2 clips"  # counts from NumPy and SQL
    assert plural_form("video file") == "video files"
    with pytest.raises(TypeError, match="whole things"):
        plural(1.5, "moment")
    with pytest.raises(TypeError):
        plural(True, "moment")
    with pytest.raises(ValueError, match="empty noun"):
        plural(2, " ")
