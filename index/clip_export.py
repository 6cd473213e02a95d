"""Export a moment as its own MP4: padded, snapped to scene cuts, stream-copied or re-encoded.

:func:`export_clip` writes ``[start_s, end_s)`` seconds of a video (times on the video stream's
clock, as everywhere in the library: the stream's ``start_time`` is 0) into a new file:

1. **Span** (:func:`plan_span`): the moment widened by ``pad_before_s`` / ``pad_after_s``
   (default 1 s each), clamped to ``[0, duration]``. A scene cut inside a padding zone stops the
   padding there: the latest cut in ``[start - pad, start]`` becomes the start, the earliest cut
   in ``[end, end + pad]`` the end, so a clip does not open or close on a flash of the
   neighbouring shot. Cut times are an input (the library's scene detection).
2. **Mode**:

   - ``copy``: the video packets are copied unchanged (no re-encode) from the **keyframe at or
     before** the span's start, timestamps rebased so that this keyframe is at 0. The clip ends
     with the last frame that starts before the span's end, plus the frames that decoding order
     requires with it (B-frames: the reference frame after a kept B-frame pulls in the B-frames
     up to it, a few frames at most); the reported ``end_s`` is where the last kept frame ends.
     Audio is copied when MP4 players take its codec (:data:`COPY_AUDIO_CODECS`), else encoded
     to AAC for the same span. Needs a video codec MP4 players take (:data:`COPY_VIDEO_CODECS`).
   - ``exact``: decode and re-encode with libx264 (CRF :data:`X264_CRF`, preset
     :data:`X264_PRESET`) and AAC: the first frame is the one on screen at the span's start,
     the last the one on screen just before its end (one frame at most from the asked times);
     source timestamps are kept (variable frame rate stays variable).

   Both modes cut at the nearest frame boundary: a frame that starts less than half a frame
   after the span's start counts as on screen at the start, and one that starts less than half
   a frame before its end is left out (times rounded on their way through a catalog then never
   cost a frame, or turn a keyframe start into a re-encode).
   - ``auto`` (the default): ``copy`` when the keyframe at or before the start is **near**, i.e.
     at most ``near_s`` seconds earlier (:data:`NEAR_KEYFRAME_S` = 1 s, the default padding:
     a copied clip then starts at most one more padding early) and the video codec can be
     copied; ``exact`` otherwise.

3. **Name** (:func:`clip_name`): ``<video stem>_<mm-ss>-<mm-ss>.mp4`` (``h-mm-ss`` past an hour),
   start floored and end rounded up to the second; an existing file is never overwritten: the
   name takes a suffix ``_2``, ``_3``, ... (:func:`reserve_path` creates it exclusively).

The clip's packets are held in memory until they are written (the clip's compressed size).
Errors are :class:`ClipExportError`, one line with the numbers; nothing is left behind when an
export fails. Reference for the copy rule: FFmpeg's documentation of ``-ss`` with ``-c copy``
(input seeking lands on the preceding keyframe).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av
import numpy as np

from tempme.video import VideoDecodeError, probe

log = logging.getLogger(__name__)

MODES = ("auto", "copy", "exact")
DEFAULT_PAD_S = 1.0
NEAR_KEYFRAME_S = 1.0  # auto mode copies when the keyframe is at most this far before the start (s)
COPY_VIDEO_CODECS = ("h264", "hevc", "av1", "vp9")  # MP4 holds them and browsers play them
COPY_AUDIO_CODECS = ("aac", "mp3", "opus")
X264_PRESET = "veryfast"
X264_CRF = "18"  # visually lossless for H.264 (x264's documentation)
AAC_FRAME = 1024  # samples per AAC frame
# Demux from this long before the start: audio packets of a time are stored near the video of
# that time but not exactly with it (interleaving), and a seek lands on a video keyframe.
SEEK_MARGIN_S = 1.0
EPS = 1e-6  # seconds: times this close are equal (timestamps are rationals)


class ClipExportError(ValueError):
    """A clip that cannot be exported as asked; the message is one line with the numbers."""


@dataclass(frozen=True)
class ClipSpan:
    """The window to export, in source seconds, and whether a scene cut stopped each padding."""

    start_s: float
    end_s: float
    snapped_start: bool = False
    snapped_end: bool = False


@dataclass(frozen=True)
class ClipExport:
    """What :func:`export_clip` did. Times are source seconds (the video stream's clock).

    ``start_s`` / ``end_s`` are where the written clip really starts and ends in the source
    (copy: ``start_s`` is the keyframe, ``end_s`` the end of the last kept frame; exact: the
    first and after the last written frame). ``audio`` is ``copied``, ``encoded`` or ``none``.
    """

    path: Path
    mode: str  # "copy" or "exact"
    start_s: float
    end_s: float
    span: ClipSpan  # the padded, snapped window that was asked for
    moment_start_s: float
    moment_end_s: float
    audio: str
    frames: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def describe(self) -> str:
        """One line: ``copy 83.000–90.250 s (asked 83.400–90.200) -> clip.mp4``."""
        return (
            f"{self.mode} {self.start_s:.3f}–{self.end_s:.3f} s "
            f"(asked {self.span.start_s:.3f}–{self.span.end_s:.3f}, audio {self.audio}) -> {self.path}"
        )

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "mode": self.mode,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "asked_start_s": self.span.start_s,
            "asked_end_s": self.span.end_s,
            "moment_start_s": self.moment_start_s,
            "moment_end_s": self.moment_end_s,
            "audio": self.audio,
            "frames": self.frames,
        }


def plan_span(
    start_s: float,
    end_s: float,
    duration_s: float,
    pad_before_s: float = DEFAULT_PAD_S,
    pad_after_s: float = DEFAULT_PAD_S,
    cuts_s: Sequence[float] = (),
) -> ClipSpan:
    """The moment ``[start_s, end_s)`` padded, clamped to ``[0, duration_s]``, snapped to cuts
    (see the module docstring).

    Raises:
        ClipExportError: a negative padding, ``end_s <= start_s``, or a moment outside the video.
    """
    if pad_before_s < 0 or pad_after_s < 0:
        raise ClipExportError(f"padding must be >= 0 s, got {pad_before_s} s before and {pad_after_s} s after")
    if not end_s > start_s:
        raise ClipExportError(f"moment {start_s:.3f}–{end_s:.3f} s: the end is not after the start")
    if start_s < -EPS or start_s >= duration_s:
        raise ClipExportError(f"moment {start_s:.3f}–{end_s:.3f} s starts outside the video (0–{duration_s:.3f} s)")
    start_s, end_s = max(start_s, 0.0), min(end_s, duration_s)
    lo, hi = max(0.0, start_s - pad_before_s), min(duration_s, end_s + pad_after_s)
    before = [c for c in cuts_s if lo - EPS <= c <= start_s + EPS]
    after = [c for c in cuts_s if end_s - EPS <= c <= hi + EPS]
    new_start = max(before) if before else lo
    new_end = min(after) if after else hi
    return ClipSpan(max(new_start, 0.0), min(new_end, duration_s), bool(before), bool(after))


def _clock(seconds: float, up: bool) -> str:
    total = math.ceil(seconds - 1e-3) if up else math.floor(seconds + 1e-3)
    hours, rest = divmod(max(0, total), 3600)
    minutes, sec = divmod(rest, 60)
    return f"{hours}-{minutes:02d}-{sec:02d}" if hours else f"{minutes:02d}-{sec:02d}"


def clip_name(video: str | os.PathLike, start_s: float, end_s: float) -> str:
    """``bbb.mp4``, 83.4, 90.2 -> ``bbb_01-23-01-31.mp4`` (start floored, end rounded up)."""
    return f"{Path(video).stem}_{_clock(start_s, up=False)}-{_clock(end_s, up=True)}.mp4"


def reserve_path(out_dir: str | os.PathLike, name: str) -> Path:
    """Create ``out_dir/name`` empty and exclusively (``name_2.mp4``, ``name_3.mp4``, ... when
    taken) and return it: an existing file is never overwritten, even by a concurrent export.

    Raises:
        ClipExportError: ``out_dir`` cannot be created or written.
    """
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClipExportError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from exc
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 10_000):
        path = folder / (name if n == 1 else f"{stem}_{n}{suffix}")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise ClipExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    raise ClipExportError(f"{folder}: 9999 files named {stem}_N{suffix} exist already")


def _codec_id(name: str) -> int:
    return av.codec.Codec(name, "r").id


def _copyable(stream: av.stream.Stream, names: Sequence[str]) -> bool:
    ids = set()
    for name in names:
        try:
            ids.add(_codec_id(name))
        except av.codec.codec.UnknownCodecError:  # a decoder this FFmpeg build lacks
            continue
    return stream.codec_context.codec.id in ids


def _stream_start(stream: av.stream.Stream) -> float:
    """The stream's first timestamp (s): source seconds count from it (as in tempme.video)."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _pts(packet: av.Packet) -> int:
    return packet.pts if packet.pts is not None else packet.dts


@dataclass
class _VideoPlan:
    """Copy mode's packets (decode order) and what they cover in source seconds."""

    packets: list[av.Packet]
    start_s: float  # the keyframe
    end_s: float  # where the last kept frame ends


def _copy_packets(container: av.container.InputContainer, start_s: float, end_s: float) -> _VideoPlan:
    """The video packets of copy mode (see the module docstring), without decoding."""
    vs = container.streams.video[0]
    tb, v0 = vs.time_base, _stream_start(vs)
    rate = vs.average_rate or vs.guessed_rate or 25
    frame_ticks = max(1, round(1 / (float(rate) * float(tb))))
    slack = 0.5 / float(rate)  # half a frame: see "nearest frame boundary" in the module docstring

    def secs(ticks: int) -> float:
        return float(ticks * tb) - v0

    seek_s, back = start_s, SEEK_MARGIN_S
    while True:
        container.seek(int((seek_s + v0) / tb), stream=vs, backward=True, any_frame=False)
        stream = (p for p in container.demux(vs) if p.dts is not None or p.pts is not None)
        kept: list[av.Packet] = []
        key = None
        for packet in stream:
            t = secs(_pts(packet))
            if packet.is_keyframe and (t <= start_s + slack or (key is None and seek_s <= 0)):
                key, kept = _pts(packet), [packet]  # the latest keyframe at or before the start
                continue
            if key is None:
                if t > start_s + slack:
                    break  # passed the start before any keyframe: seek further back
                continue
            kept.append(packet)
            if secs(packet.dts if packet.dts is not None else _pts(packet)) >= end_s - EPS:
                break  # this and every later packet start at or after the end (pts >= dts)
            if packet.is_keyframe and t >= end_s - EPS:
                break
        if key is not None:
            break
        if seek_s <= 0:
            raise ClipExportError(f"no keyframe found at or before {start_s:.3f} s")
        seek_s, back = max(0.0, seek_s - back), back * 2

    kept = [p for p in kept if _pts(p) >= key]  # open-GOP B-frames before the keyframe cannot decode
    end_ticks = key + math.ceil((end_s - slack - secs(key)) / float(tb) - 1e-9)
    while True:  # grow the end until every frame shown before it is kept with its references
        last = max((i for i, p in enumerate(kept) if _pts(p) < end_ticks), default=0)
        reach = max(_pts(p) + (p.duration or frame_ticks) for p in kept[: last + 1])
        if reach <= end_ticks:
            break
        end_ticks = reach
        tail_dts = kept[-1].dts if kept[-1].dts is not None else _pts(kept[-1])
        while tail_dts < end_ticks:  # read on until decoding order passes the new end
            packet = next(stream, None)
            if packet is None:
                break
            kept.append(packet)
            tail_dts = packet.dts if packet.dts is not None else _pts(packet)
    packets = kept[: last + 1]
    end = max(_pts(p) + (p.duration or frame_ticks) for p in packets)
    return _VideoPlan(packets, secs(key), secs(end))


def _rebase(packet: av.Packet, offset: int, stream: av.stream.Stream) -> av.Packet:
    if packet.pts is not None:
        packet.pts -= offset
    if packet.dts is not None:
        packet.dts -= offset
    packet.stream = stream
    return packet


def _frames_from(container: av.container.InputContainer, start_s: float) -> Iterator[tuple[av.VideoFrame, float]]:
    """Decoded video frames and their source times (s), from a keyframe at or before ``start_s``:
    when a seek lands past it (a demuxer's coarse index), decoding starts again from 0."""
    vs = container.streams.video[0]
    tb, v0 = vs.time_base, _stream_start(vs)
    target = max(0.0, start_s - SEEK_MARGIN_S)
    while True:
        container.seek(int((target + v0) / tb), stream=vs, backward=True)
        frames = ((f, float(f.pts * tb) - v0) for f in container.decode(vs) if f.pts is not None)
        head = next(frames, None)
        if head is None:
            return
        if head[1] > start_s + EPS and target > 0:
            log.debug("seek to %.3f s landed at %.3f s, past %.3f s: decoding from 0", target, head[1], start_s)
            target = 0.0
            continue
        yield head
        yield from frames
        return


def _exact_video(
    container: av.container.InputContainer, ostream: av.stream.Stream, start_s: float, end_s: float
) -> tuple[list[av.Packet], float, float, int]:
    """Decode from before ``start_s`` and encode the frames on screen in ``[start_s, end_s)``.
    Returns (encoded packets, first frame s, end of the last frame s, frames)."""
    vs = container.streams.video[0]
    tb = vs.time_base
    rate = vs.average_rate or vs.guessed_rate or 25
    width, height = vs.codec_context.width // 2 * 2, vs.codec_context.height // 2 * 2
    cc = ostream.codec_context
    cc.width, cc.height, cc.pix_fmt, cc.time_base = width, height, "yuv420p", tb
    ostream.time_base = tb
    cc.options = {"preset": X264_PRESET, "crf": X264_CRF}
    packets: list[av.Packet] = []
    held, first, frames, after = None, None, 0, None

    def put(frame: av.VideoFrame, t: float) -> None:
        nonlocal first, frames
        first = t if first is None else first
        out = frame.reformat(width=width, height=height, format="yuv420p")
        out.pts, out.time_base = round((t - first) / float(tb)), tb
        packets.extend(cc.encode(out))
        frames += 1

    t, slack = start_s, 0.5 / float(rate)
    for frame, t in _frames_from(container, start_s):
        if t <= start_s + slack:
            held = (frame, t)  # the frame on screen at the start, so far
            continue
        if held is not None:
            put(*held)
            held = None
        if t >= end_s - slack:
            after = t  # the first frame not written: the clip ends where it starts
            break
        put(frame, t)
    if held is not None:
        put(*held)
    if first is None:
        raise ClipExportError(f"no frame decoded in {start_s:.3f}–{end_s:.3f} s")
    last_end = after if after is not None else max(min(end_s, t + 1 / float(rate)), t)
    packets.extend(cc.encode(None))
    return packets, first, last_end, frames


def _audio_packets(
    container: av.container.InputContainer,
    ostream: av.stream.Stream,
    start_s: float,
    end_s: float,
    copy: bool,
) -> list[av.Packet]:
    """Audio for ``[start_s, end_s)`` (source s), rebased to ``start_s`` = 0: copied packets that
    start inside the span, or decoded samples cut to the span and encoded to AAC."""
    a = container.streams.audio[0]
    vs = container.streams.video[0]
    v0 = _stream_start(vs)
    container.seek(int((max(0.0, start_s - SEEK_MARGIN_S) + v0) / vs.time_base), stream=vs, backward=True)
    out: list[av.Packet] = []
    if copy:
        offset = round((start_s + v0) / float(a.time_base))
        for packet in container.demux(a):
            if packet.pts is None:
                continue
            t = float(packet.pts * a.time_base) - v0
            if t >= end_s - EPS:
                break
            if t >= start_s - EPS:
                out.append(_rebase(packet, offset, ostream))
        return out
    cc = ostream.codec_context
    rate = cc.sample_rate
    resampler = av.AudioResampler(format="fltp", layout=cc.layout, rate=rate)
    fifo = av.AudioFifo()
    need, last = round(start_s * rate), round(end_s * rate)  # sample indices on the source clock
    channels = cc.layout.nb_channels
    sent = 0

    def write(data: np.ndarray) -> None:
        chunk = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data, dtype=np.float32), format="fltp", layout=cc.layout
        )
        chunk.sample_rate = rate
        fifo.write(chunk)

    for frame in _decoded(container, a):
        t0 = round((float(frame.pts * a.time_base) - v0) * rate)
        for piece in resampler.resample(frame):
            data = piece.to_ndarray()  # (channels, samples) float32
            if t0 > need and need < last:  # a gap in the stream (or audio starting late): silence
                write(np.zeros((channels, min(t0, last) - need), np.float32))
                need = min(t0, last)
            lo, hi = max(need, t0), min(last, t0 + data.shape[1])
            if hi > lo:
                write(data[:, lo - t0 : hi - t0])
                need = hi
            t0 += data.shape[1]
        if t0 >= last:
            break
        while fifo.samples >= AAC_FRAME:
            sent = _encode_fifo(fifo, cc, out, sent, AAC_FRAME)
    if fifo.samples:
        sent = _encode_fifo(fifo, cc, out, sent, fifo.samples)
    out.extend(cc.encode(None))
    for p in out:
        p.stream = ostream
    return out


def _encode_fifo(fifo: av.AudioFifo, cc, out: list[av.Packet], sent: int, n: int) -> int:
    frame = fifo.read(n)
    frame.pts, frame.time_base = sent, Fraction(1, cc.sample_rate)
    out.extend(cc.encode(frame))
    return sent + n


def _decoded(container: av.container.InputContainer, stream: av.stream.Stream) -> Iterator[av.AudioFrame]:
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                if frame.pts is not None:
                    yield frame
        except av.FFmpegError as exc:  # one damaged packet: skip it, keep the rest
            log.debug("audio packet at %s not decoded: %s", packet.pts, exc)


def _set_durations(packets: list[av.Packet], end: int) -> None:
    """Each video packet lasts until the next frame in presentation order, the last one until
    ``end`` (ticks of the packets' time base): the MP4 track then lasts exactly the clip."""
    shown = sorted(packets, key=_pts)
    for p, q in zip(shown, shown[1:]):
        p.duration = _pts(q) - _pts(p)
    if shown:
        shown[-1].duration = max(1, end - _pts(shown[-1]))


def _mux(output: av.container.OutputContainer, *packet_lists: list[av.Packet]) -> None:
    def when(p: av.Packet) -> float:
        ts = p.dts if p.dts is not None else p.pts
        return float(ts * p.time_base)

    for packet in sorted((p for ps in packet_lists for p in ps), key=when):
        output.mux(packet)


def export_clip(
    source: str | os.PathLike,
    start_s: float,
    end_s: float,
    out_dir: str | os.PathLike,
    *,
    pad_before_s: float = DEFAULT_PAD_S,
    pad_after_s: float = DEFAULT_PAD_S,
    cuts_s: Sequence[float] = (),
    mode: str = "auto",
    near_s: float = NEAR_KEYFRAME_S,
) -> ClipExport:
    """Write the moment ``[start_s, end_s)`` s of ``source`` as a new MP4 in ``out_dir``
    (see the module docstring for the padding, the modes and the name).

    Raises:
        ClipExportError: a bad mode or span, a codec that cannot be copied (``mode="copy"``), an
            unreadable source or an unwritable folder (one line, with the numbers).
    """
    if mode not in MODES:
        raise ClipExportError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    src = Path(source)
    try:
        meta = probe(src)  # checks that src is a readable video
        container = av.open(str(src))
    except (VideoDecodeError, av.FFmpegError, OSError) as exc:
        raise ClipExportError(str(exc)) from exc
    span = plan_span(start_s, end_s, meta.duration_s, pad_before_s, pad_after_s, cuts_s)
    path = None
    try:
        vs = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        codec = vs.codec_context.name
        can_copy = _copyable(vs, COPY_VIDEO_CODECS)
        if mode == "copy" and not can_copy:
            raise ClipExportError(
                f"{src.name}: {codec} video cannot be stream-copied into MP4 ({', '.join(COPY_VIDEO_CODECS)} can); "
                "use mode exact"
            )
        plan = _copy_packets(container, span.start_s, span.end_s) if can_copy and mode != "exact" else None
        used = mode
        if mode == "auto":
            used = "copy" if plan is not None and span.start_s - plan.start_s <= near_s + EPS else "exact"
        name_start = plan.start_s if used == "copy" else span.start_s
        path = reserve_path(out_dir, clip_name(src, name_start, span.end_s))
        with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as output:
            if used == "copy":
                vout = output.add_stream_from_template(vs)
                offset = plan.packets[0].pts
                video = [_rebase(p, offset, vout) for p in plan.packets]
                first, last, frames = plan.start_s, plan.end_s, len(video)
                _set_durations(video, round((last - first) / float(vs.time_base)))
            else:
                vout = output.add_stream("libx264")
                video, first, last, frames = _exact_video(container, vout, span.start_s, span.end_s)
                _set_durations(video, round((last - first) / float(vs.time_base)))
            audio_kind, audio = "none", []
            if has_audio:
                a = container.streams.audio[0]
                copy_audio = used == "copy" and _copyable(a, COPY_AUDIO_CODECS)
                if copy_audio:
                    aout = output.add_stream_from_template(a)
                else:
                    aout = output.add_stream("aac", rate=a.codec_context.sample_rate or 44100)
                    aout.codec_context.layout = "stereo" if a.codec_context.layout.nb_channels >= 2 else "mono"
                audio = _audio_packets(container, aout, first, last, copy_audio)
                audio_kind = "copied" if copy_audio else "encoded"
            _mux(output, video, audio)
    except ClipExportError:
        _discard(path)
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        _discard(path)
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ClipExportError(
            f"{src.name} {span.start_s:.3f}–{span.end_s:.3f} s ({mode}): export failed: {reason}"
        ) from exc
    finally:
        container.close()
    result = ClipExport(path, used, first, last, span, float(start_s), float(end_s), audio_kind, frames)
    log.info("exported %s", result.describe())
    return result


def _discard(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)
