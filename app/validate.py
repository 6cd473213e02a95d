"""Everything a person types or uploads, checked before it reaches the library.

Each problem raises `InputError`, whose message the page shows as is (with the numbers: the
query's length and the limit, the code point and position of a control character, the file
name and the decoder's reason).
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from tempme.index import VIDEO_EXTENSIONS, SearchFilters, expand_home, is_video_name, text_path, typed_date

MAX_PATH_CHARS = 4096
"""Longest accepted path (Linux's PATH_MAX, in characters): a folder filter, a path to remove."""
RESERVED_CODE_POINTS = (0x10FF80, 0x10FFFF)
"""Code points that stand for the bytes of non-UTF-8 names in the library's text spelling
(:func:`tempme.index.path_text`); a name typed on a command line cannot hold them."""
MAX_SEGMENT_ID = 2**63 - 1

MAX_QUERY_CHARS = 1000
"""Longest accepted query. CLIP's text tower reads 77 tokens (TempMe: 32), about 200 characters
of English; a thousand leaves room for any sentence and rejects pasted documents."""
MAX_K = 100
MAX_UPLOAD_FILES = 32
"""Most files one upload request may add."""
MAX_IMAGE_BYTES = 50 * 1024**2
"""Largest image accepted as a query (50 MiB: a 100-megapixel JPEG is about 30)."""
MAX_UPLOAD_BYTES = 8 * 1024**3
"""Most bytes one upload request may add (8 GiB; each file is also bounded by ``tempme serve``'s
``max_file_size``)."""


class InputError(ValueError):
    """A problem with what the person asked for; the message is shown on the page verbatim."""


def clean_path(text: str, what: str, *, spelled: bool = False) -> str:
    """A path a person gave (``what``: "The folder filter", "The path"), checked once here:
    at most `MAX_PATH_CHARS` characters, no control character, and Unicode a file name can
    have. ``spelled``: the text comes from the page or the API, in the library's text spelling
    (bytes of non-UTF-8 names as U+10FF80.., :func:`tempme.index.text_path`), and is turned
    back into the path; otherwise (a command line) those code points are refused.

    Raises:
        InputError: too long, a control character, a reserved code point or a lone surrogate.
    """
    if len(text) > MAX_PATH_CHARS:
        raise InputError(f"{what} has {len(text):,} characters; the limit is {MAX_PATH_CHARS:,}.")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise InputError(f"{what} contains a control character.")
    if spelled:
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise InputError(f"{what} is not valid Unicode (a lone surrogate).")
        return str(text_path(text))
    if (bad := next((c for c in text if ord(c) >= RESERVED_CODE_POINTS[0]), None)) is not None:
        raise InputError(
            f"{what} contains U+{ord(bad):04X}, a code point the library reserves (no indexed name can have it)."
        )
    return text


def clean_segment_id(segment_id) -> int:
    """A segment id: a whole number from 0 to 2**63 - 1 (what the catalog can store).

    Raises:
        InputError: anything else (the message says what was given)."""
    try:
        value = int(segment_id)
        if isinstance(segment_id, bool) or value != segment_id and not isinstance(segment_id, str):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"A segment id must be a whole number, got {str(segment_id)[:40]!r}.") from None
    if not 0 <= value <= MAX_SEGMENT_ID:
        raise InputError(f"Segment {str(value)[:40]} is not in the library (ids go from 0 to 2**63 - 1).")
    return value


class BusyError(InputError):
    """Another process is indexing the library: try again when it is done."""


def clean_query(text: str | None) -> str:
    """Validate a text query and collapse its whitespace.

    Raises:
        InputError: empty (or only whitespace), longer than `MAX_QUERY_CHARS` characters, or
            containing a control character other than tab / newline (the message gives its
            code point and position).
    """
    if text is not None and not isinstance(text, str):
        raise InputError(f"The query must be text, got {type(text).__name__}.")
    text = text or ""
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(
            f"The query has {len(text):,} characters; the limit is {MAX_QUERY_CHARS:,}. "
            "Describe the moment in a sentence or two."
        )
    for pos, ch in enumerate(text):
        if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r":
            raise InputError(
                f"The query contains the control character U+{ord(ch):04X} at position {pos + 1}; "
                "remove it and search again."
            )
    query = " ".join(text.split())
    if not query:
        raise InputError("Type what you are looking for: the query is empty.")
    return query


def clean_k(k: float | int | None) -> int:
    """Number of results per page, 1..`MAX_K` (an int, a whole float, or such a number as text).
    Raises InputError otherwise, with the same message for a wrong type as for a wrong value."""
    if isinstance(k, str):
        try:
            k = float(k.strip())
        except ValueError:
            raise InputError(f"The number of results must be a whole number from 1 to {MAX_K}, got {k!r}.") from None
    if isinstance(k, bool) or not isinstance(k, (int, float)):
        raise InputError(f"The number of results must be a whole number from 1 to {MAX_K}, got {k!r}.")
    if (isinstance(k, float) and not math.isfinite(k)) or int(k) != k:
        raise InputError(f"The number of results must be a whole number from 1 to {MAX_K}, got {k!r}.")
    if not 1 <= int(k) <= MAX_K:
        raise InputError(f"The number of results must be from 1 to {MAX_K}, got {int(k)}.")
    return int(k)


def _duration(value: float | int | str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InputError(f"The {name} duration must be a number of seconds, got {value!r}.") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise InputError(f"The {name} duration must be a finite number of seconds >= 0, got {value!r}.")
    return seconds


def _date(value: str | None, name: str) -> dt.datetime | None:
    """A date typed on the page (``2024-06-01``, ``2024-06-01 18:30``): local time unless it says."""
    if value is None or not str(value).strip():
        return None
    try:
        return typed_date(str(value))
    except ValueError:
        raise InputError(f"The {name} date must look like 2024-06-01 (or 2024-06-01 18:30), got {value!r}.") from None


def make_filters(
    folder: str | None = None,
    min_duration_s: float | str | None = None,
    max_duration_s: float | str | None = None,
    extensions: Sequence[str] | None = None,
    after: str | None = None,
    before: str | None = None,
) -> SearchFilters:
    """Validate the filter controls into the library's `SearchFilters`.

    A minimum or maximum of 0 (or empty) means "no bound"; extensions are normalised to lower case with a leading dot (``"MP4"`` -> ``".mp4"``).
    The folder is matched as typed (``holiday`` finds ``.../holiday 2023/``); ``after`` / ``before``
    bound the recording date (local time unless the text gives an offset).

    Raises:
        InputError: a negative or non-numeric duration, minimum above maximum, a folder with a
            control character, a date that is not one, or a date range that ends before it starts.
    """
    if folder is not None and not isinstance(folder, str):
        raise InputError(f"The folder filter must be text, got {type(folder).__name__}.")
    if isinstance(extensions, str):
        extensions = [extensions]
    if extensions is not None and (
        not isinstance(extensions, (list, tuple)) or not all(isinstance(e, str) for e in extensions)
    ):
        raise InputError('The file types must be a list of extensions such as [".mp4", ".mkv"].')
    if isinstance(min_duration_s, bool) or isinstance(max_duration_s, bool):
        raise InputError("A duration must be a number of seconds, got a boolean.")
    lo = _duration(min_duration_s, "minimum")
    hi = _duration(max_duration_s, "maximum")
    lo = lo or None  # 0 (what an emptied number box sends) means no bound
    hi = hi or None
    if lo is not None and hi is not None and lo > hi:
        raise InputError(f"The minimum duration ({lo:g} s) is above the maximum ({hi:g} s).")
    folder = (folder or "").strip() or None
    if folder is not None:
        folder = clean_path(folder, "The folder filter", spelled=True)
    exts = tuple(sorted({("." + e.lower().lstrip(".")) for e in (extensions or []) if e and e.strip(".")}))
    date_from, date_to = _date(after, "“recorded after”"), _date(before, "“recorded before”")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise InputError(f"The dates are the wrong way round: recorded after {after}, before {before}.")
    return SearchFilters(folder, lo, hi, exts, date_from, date_to)


def check_upload_batch(paths: Sequence[Path]) -> None:
    """Bound one upload request: at most `MAX_UPLOAD_FILES` files and `MAX_UPLOAD_BYTES` bytes.

    Raises:
        InputError: too many files, or too many bytes (both counted and named in the message).
    """
    if len(paths) > MAX_UPLOAD_FILES:
        raise InputError(
            f"{len(paths)} files in one upload; the limit is {MAX_UPLOAD_FILES}. Upload them in smaller groups."
        )
    total = 0
    for p in paths:
        try:
            total += Path(p).stat().st_size
        except OSError:
            pass  # reported per file by check_upload
    if total > MAX_UPLOAD_BYTES:
        raise InputError(
            f"The upload is {total / 1024**3:.1f} GiB; the limit per upload is "
            f"{MAX_UPLOAD_BYTES / 1024**3:.0f} GiB. Upload fewer files at a time, or index "
            "the folder on the server with `tempme index`."
        )


def check_upload(path: str | Path) -> Path:
    """Accept an uploaded file only if it has a video extension and PyAV can read a duration.

    Raises:
        InputError: not a file, an extension that is not a video's, or not decodable (the
            decoder's reason is in the message).
    """
    from tempme.video import VideoDecodeError, probe

    p = Path(path)
    name = p.name
    if not p.is_file():
        raise InputError(f"{name}: the upload did not arrive (no such file).")
    if not is_video_name(p):
        raise InputError(
            f"{name}: not a video file (extension {p.suffix or 'none'!r}; accepted: {', '.join(VIDEO_EXTENSIONS)})."
        )
    if p.stat().st_size == 0:
        raise InputError(f"{name}: the file is empty (0 bytes).")
    try:
        meta = probe(p)
    except VideoDecodeError as e:
        reason = str(e.reason).replace(str(p), name)  # no server paths on the page
        raise InputError(f"{name}: not a readable video ({reason}).") from None
    if not meta.duration_s > 0:
        raise InputError(f"{name}: the video has no duration.")
    return p


RANDOM_WEIGHTS = "none"
"""The weights choice for seeded random initialisation (``--pretrained none``)."""
WEIGHTS_FILE = "file"
"""The weights choice for a checkpoint file on the server."""


def weight_choices(arch: str, downloaded: bool = True) -> list[tuple[str, str]]:
    """(label, value) of the weights the page offers for a new library with ``arch``: the
    open_clip tags already downloaded to this machine (never a download; only with
    ``downloaded``: listing them imports torch), a checkpoint file on the server, random
    weights (not semantic)."""
    tags: list[str] = []
    if downloaded:
        from tempme.weights import cached_tags

        try:
            tags = cached_tags(arch)
        except ValueError:
            pass
    return [
        *((f"{t} (downloaded)", t) for t in tags),
        ("a weights file on the server", WEIGHTS_FILE),
        ("random weights (not semantic: a quick test only)", RANDOM_WEIGHTS),
    ]


def clean_encoder_choice(
    arch: str | None,
    weights: str | None,
    weights_file: str | None = None,
    adapter: str | None = None,
    random_confirmed: bool = False,
    *,
    architectures: Sequence[str],
    offline_tags: Sequence[str],
):
    """The first-run encoder a person chose on the page, as an `index.encoders.EncoderSpec`
    (what ``tempme index --model ARCH --pretrained WEIGHTS [--adapter DIR]`` would use).

    ``weights``: one of ``offline_tags`` (open_clip tags whose weights are on this machine; no
    download is ever attempted), `WEIGHTS_FILE` (then ``weights_file``: a checkpoint on the
    server) or `RANDOM_WEIGHTS` (only with ``random_confirmed``: results are not semantic).

    Raises:
        InputError: an unknown architecture, weights not on this machine, random weights not
            confirmed, a weights file or adapter folder that does not exist on the server.
    """
    from tempme.index import EncoderSpec

    if not isinstance(arch, str) or arch not in architectures:
        raise InputError(f"Choose a model: one of {', '.join(architectures)} (got {arch!r}).")
    if weights == RANDOM_WEIGHTS:
        if random_confirmed is not True:
            raise InputError(
                "Random weights make every search result meaningless: tick the confirmation box "
                "to use them anyway (for a quick test), or choose real weights."
            )
        pretrained = RANDOM_WEIGHTS
    elif weights == WEIGHTS_FILE:
        text = weights_file.strip() if isinstance(weights_file, str) else ""
        if not text or any(unicodedata.category(c) == "Cc" for c in text):
            raise InputError("Give the path of the weights file on the server (e.g. /models/ViT-B-32.pt).")
        path = expand_home(text)
        if not path.is_absolute() or not path.is_file():
            raise InputError(f"{text}: no such file on the server (give an absolute path).")
        pretrained = str(path)
    elif isinstance(weights, str) and weights in offline_tags:
        pretrained = weights
    else:
        tags = ", ".join(offline_tags) or "none"
        raise InputError(
            f"The weights {weights!r} are not on this machine for {arch} (downloaded tags: {tags}). "
            f"Download them once with `tempme index`, or choose a weights file."
        )
    folder = None
    text = adapter.strip() if isinstance(adapter, str) else ""
    if text:
        folder = expand_home(text)
        if not folder.is_absolute() or not folder.is_dir():
            raise InputError(f"{text}: no such adapter folder on the server (give an absolute path).")
    return EncoderSpec(arch, pretrained, folder)


def clean_server_folder(folder: str | None, allowed: bool) -> Path:
    """A folder on the server that a person asked to index: only when the server allows it
    (``--allow-folder-add``), an absolute path of a folder (as given: links keep their names,
    as index.files.walk names them).

    Raises InputError: not allowed, not text, empty or with control characters, relative, or
    not a folder."""
    if not allowed:
        raise InputError("This server does not accept folder paths; start it with --allow-folder-add.")
    if folder is not None and not isinstance(folder, str):
        raise InputError(f"The folder must be a path (text), got {type(folder).__name__}.")
    text = (folder or "").strip()
    if not text or any(unicodedata.category(c) == "Cc" for c in text):
        raise InputError("Give the absolute path of a folder on the server.")
    path = expand_home(text)
    if not path.is_absolute():
        raise InputError(f"{text!r} is not an absolute path.")
    if not path.is_dir():
        raise InputError(f"{path} is not a folder on the server.")
    return path
