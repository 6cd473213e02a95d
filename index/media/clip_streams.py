"""The packets of an exported clip, read and written with PyAV (used by :mod:`.clips`).

- :func:`copy_video_packets`: copy mode's video packets, chosen without decoding: from the
  keyframe at or before the start to the last frame before the end, with the frames decoding
  order needs (B-frame groups);
- :func:`encode_video`: exact mode's frames, decoded from before the start and re-encoded
  (libx264) with their source timestamps;
- :func:`copy_audio` / :func:`encode_audio`: the audio of a span, copied or cut to the sample
  and encoded (AAC);
- :func:`set_durations`, :func:`mux_in_time_order`: the MP4 track lasts exactly the clip.

Times are source seconds: the video stream's ``start_time`` is 0 (as in :mod:`tempme.video`).
Frames are cut at the nearest frame boundary (:data:`HALF_FRAME`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, Sequence

import av
import numpy as np
from tempme.index.media.clip_plan import EPS, ClipExportError

log = logging.getLogger(__name__)

COPY_VIDEO_CODECS = ("h264", "hevc", "av1", "vp9")  # MP4 holds them and browsers play them
COPY_AUDIO_CODECS = ("aac", "mp3", "opus")
X264_PRESET = "veryfast"
X264_CRF = "18"  # visually lossless for H.264 (x264's documentation)
AAC_FRAME = 1024  # samples per AAC frame
# Demux from this long before the start: audio packets of a time are stored near the video of
# that time but not exactly with it (interleaving), and a seek lands on a video keyframe.
SEEK_MARGIN_S = 1.0
HALF_FRAME = 0.5  # a frame starting within this many frame durations of a cut counts as at the cut


def copyable(stream: av.stream.Stream, codecs: Sequence[str]) -> bool:
    """Whether ``stream``'s codec is one of ``codecs`` (FFmpeg codec names, any decoder of it)."""
    ids = set()
    for name in codecs:
        try:
            ids.add(av.codec.Codec(name, "r").id)
        except av.codec.codec.UnknownCodecError:  # a decoder this FFmpeg build lacks
            continue
    return stream.codec_context.codec.id in ids


def stream_start(stream: av.stream.Stream) -> float:
    """The stream's first timestamp (s): source seconds count from it."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _pts(packet: av.Packet) -> int:
    return packet.pts if packet.pts is not None else packet.dts


def _dts(packet: av.Packet) -> int:
    return packet.dts if packet.dts is not None else packet.pts


def _frame_rate(stream: av.stream.Stream) -> float:
    return float(stream.average_rate or stream.guessed_rate or 25)


@dataclass
class VideoPackets:
    """A clip's video packets (decode order) and the source seconds they cover."""

    packets: list[av.Packet]
    start_s: float  # the first frame (copy: the keyframe)
    end_s: float  # where the last frame ends
    frames: int


def _keyframe_run(container, start_s: float, end_s: float) -> tuple[int, list[av.Packet], Iterator[av.Packet]]:
    """(keyframe pts, packets from it until decoding order reaches ``end_s``, the rest of the demux)."""
    vs = container.streams.video[0]
    tb, v0 = vs.time_base, stream_start(vs)
    slack = HALF_FRAME / _frame_rate(vs)
    seek_s, back = start_s, SEEK_MARGIN_S
    while True:
        container.seek(int((seek_s + v0) / tb), stream=vs, backward=True, any_frame=False)
        demux = (p for p in container.demux(vs) if p.dts is not None or p.pts is not None)
        kept: list[av.Packet] = []
        key = None
        for packet in demux:
            t = float(_pts(packet) * tb) - v0
            if packet.is_keyframe and (t <= start_s + slack or (key is None and seek_s <= 0)):
                key, kept = _pts(packet), [packet]  # the latest keyframe at or before the start
                continue
            if key is None:
                if t > start_s + slack:
                    break  # passed the start before any keyframe: seek further back
                continue
            kept.append(packet)
            if float(_dts(packet) * tb) - v0 >= end_s - EPS:
                break  # this and every later packet start at or after the end (pts >= dts)
        if key is not None:
            return key, kept, demux
        if seek_s <= 0:
            raise ClipExportError(f"no keyframe found at or before {start_s:.3f} s")
        seek_s, back = max(0.0, seek_s - back), back * 2


def copy_video_packets(container: av.container.InputContainer, start_s: float, end_s: float) -> VideoPackets:
    """Copy mode's video packets for ``[start_s, end_s)``, without decoding (module docstring)."""
    vs = container.streams.video[0]
    tb, v0 = vs.time_base, stream_start(vs)
    frame_ticks = max(1, round(1 / (_frame_rate(vs) * float(tb))))
    key, kept, demux = _keyframe_run(container, start_s, end_s)
    kept = [p for p in kept if _pts(p) >= key]  # open-GOP B-frames before the keyframe cannot decode
    slack = HALF_FRAME / _frame_rate(vs)
    end_ticks = key + math.ceil((end_s - slack - (float(key * tb) - v0)) / float(tb) - 1e-9)
    while True:  # grow the end until every frame shown before it is kept with its references
        last = max((i for i, p in enumerate(kept) if _pts(p) < end_ticks), default=0)
        reach = max(_pts(p) + (p.duration or frame_ticks) for p in kept[: last + 1])
        if reach <= end_ticks:
            break
        end_ticks = reach
        while _dts(kept[-1]) < end_ticks:  # read on until decoding order passes the new end
            packet = next(demux, None)
            if packet is None:
                break
            kept.append(packet)
    packets = kept[: last + 1]
    end = max(_pts(p) + (p.duration or frame_ticks) for p in packets)
    return VideoPackets(packets, float(key * tb) - v0, float(end * tb) - v0, len(packets))


def rebase(packets: list[av.Packet], offset: int, stream: av.stream.Stream) -> list[av.Packet]:
    """The packets moved ``offset`` ticks earlier and onto the output ``stream``."""
    for packet in packets:
        if packet.pts is not None:
            packet.pts -= offset
        if packet.dts is not None:
            packet.dts -= offset
        packet.stream = stream
    return packets


def _frames_from(container: av.container.InputContainer, start_s: float) -> Iterator[tuple[av.VideoFrame, float]]:
    """Decoded video frames and their source times (s), from a keyframe at or before ``start_s``:
    when a seek lands past it (a demuxer's coarse index), decoding starts again from 0."""
    vs = container.streams.video[0]
    tb, v0 = vs.time_base, stream_start(vs)
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


def _on_screen(container, start_s: float, end_s: float) -> Iterator[tuple[av.VideoFrame, float, float | None]]:
    """``(frame, t, None)`` for each frame on screen in ``[start_s, end_s)``, then
    ``(None, t, t)`` with the first frame after them (if any) or the last frame's time."""
    slack = HALF_FRAME / _frame_rate(container.streams.video[0])
    held, t = None, start_s
    for frame, t in _frames_from(container, start_s):
        if t <= start_s + slack:
            held = (frame, t)  # the frame on screen at the start, so far
            continue
        if held is not None:
            yield (*held, None)
            held = None
        if t >= end_s - slack:
            yield None, t, t  # the first frame not written: the clip ends where it starts
            return
        yield frame, t, None
    if held is not None:
        yield (*held, None)
    yield None, t, None


def encode_video(
    container: av.container.InputContainer, ostream: av.stream.Stream, start_s: float, end_s: float
) -> VideoPackets:
    """Exact mode: the frames on screen in ``[start_s, end_s)`` re-encoded by libx264 with their
    source timestamps (rebased to the first one), as packets of ``ostream``."""
    vs = container.streams.video[0]
    tb, rate = vs.time_base, _frame_rate(vs)
    width, height = vs.codec_context.width // 2 * 2, vs.codec_context.height // 2 * 2
    cc = ostream.codec_context
    cc.width, cc.height, cc.pix_fmt, cc.time_base = width, height, "yuv420p", tb
    ostream.time_base = tb
    cc.options = {"preset": X264_PRESET, "crf": X264_CRF}
    packets: list[av.Packet] = []
    first, frames, last_t, after = None, 0, start_s, None
    for frame, t, stop in _on_screen(container, start_s, end_s):
        if frame is None:
            after = stop
            break
        first = t if first is None else first
        out = frame.reformat(width=width, height=height, format="yuv420p")
        out.pts, out.time_base = round((t - first) / float(tb)), tb
        packets.extend(cc.encode(out))
        frames, last_t = frames + 1, t
    if first is None:
        raise ClipExportError(f"no frame decoded in {start_s:.3f}–{end_s:.3f} s")
    packets.extend(cc.encode(None))
    end = after if after is not None else max(min(end_s, last_t + 1 / rate), last_t)
    return VideoPackets(packets, first, end, frames)


def _seek_before(container: av.container.InputContainer, start_s: float) -> float:
    vs = container.streams.video[0]
    v0 = stream_start(vs)
    container.seek(int((max(0.0, start_s - SEEK_MARGIN_S) + v0) / vs.time_base), stream=vs, backward=True)
    return v0


def copy_audio(container, ostream: av.stream.Stream, start_s: float, end_s: float) -> list[av.Packet]:
    """The audio packets that start in ``[start_s, end_s)``, rebased to ``start_s`` = 0."""
    a = container.streams.audio[0]
    v0 = _seek_before(container, start_s)
    out = []
    for packet in container.demux(a):
        if packet.pts is None:
            continue
        t = float(packet.pts * a.time_base) - v0
        if t >= end_s - EPS:
            break
        if t >= start_s - EPS:
            out.append(packet)
    return rebase(out, round((start_s + v0) / float(a.time_base)), ostream)


class _SampleCutter:
    """Decoded audio in, the samples of ``[first, last)`` (sample indices on the source clock)
    out to an AAC encoder in whole frames; gaps in the stream become silence."""

    def __init__(self, ostream: av.stream.Stream, first: int, last: int):
        self.ostream, self.cc = ostream, ostream.codec_context
        self.need, self.last, self.sent = first, last, 0
        self.fifo = av.AudioFifo()
        self.packets: list[av.Packet] = []

    def add(self, data: np.ndarray, t0: int) -> None:
        """``data`` (channels, samples) float32 starting at sample ``t0``."""
        if t0 > self.need and self.need < self.last:
            self._write(np.zeros((data.shape[0], min(t0, self.last) - self.need), np.float32))
            self.need = min(t0, self.last)
        lo, hi = max(self.need, t0), min(self.last, t0 + data.shape[1])
        if hi > lo:
            self._write(data[:, lo - t0 : hi - t0])
            self.need = hi
        while self.fifo.samples >= AAC_FRAME:
            self._encode(AAC_FRAME)

    def _write(self, data: np.ndarray) -> None:
        chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(data, np.float32), format="fltp", layout=self.cc.layout)
        chunk.sample_rate = self.cc.sample_rate
        self.fifo.write(chunk)

    def _encode(self, n: int) -> None:
        frame = self.fifo.read(n)
        frame.pts, frame.time_base = self.sent, Fraction(1, self.cc.sample_rate)
        self.packets.extend(self.cc.encode(frame))
        self.sent += n

    def finish(self) -> list[av.Packet]:
        if self.fifo.samples:
            self._encode(self.fifo.samples)
        self.packets.extend(self.cc.encode(None))
        for p in self.packets:
            p.stream = self.ostream
        return self.packets


def encode_audio(container, ostream: av.stream.Stream, start_s: float, end_s: float) -> list[av.Packet]:
    """The audio of ``[start_s, end_s)`` cut to the sample and encoded for ``ostream`` (AAC),
    starting at 0; a damaged packet is skipped (its time becomes silence)."""
    a = container.streams.audio[0]
    v0 = _seek_before(container, start_s)
    rate = ostream.codec_context.sample_rate
    cutter = _SampleCutter(ostream, round(start_s * rate), round(end_s * rate))
    resampler = av.AudioResampler(format="fltp", layout=ostream.codec_context.layout, rate=rate)
    for packet in container.demux(a):
        try:
            frames = [f for f in packet.decode() if f.pts is not None]
        except av.FFmpegError as exc:
            log.debug("audio packet at %s not decoded: %s", packet.pts, exc)
            continue
        for frame in frames:
            t0 = round((float(frame.pts * a.time_base) - v0) * rate)
            for piece in resampler.resample(frame):
                data = piece.to_ndarray()  # (channels, samples) float32
                cutter.add(data, t0)
                t0 += data.shape[1]
        if cutter.need >= cutter.last:
            break
    return cutter.finish()


def set_durations(packets: list[av.Packet], end: int) -> None:
    """Each video packet lasts until the next frame in presentation order, the last one until
    ``end`` (ticks of the packets' time base): the MP4 track then lasts exactly the clip."""
    shown = sorted(packets, key=_pts)
    for p, q in zip(shown, shown[1:]):
        p.duration = _pts(q) - _pts(p)
    if shown:
        shown[-1].duration = max(1, end - _pts(shown[-1]))


def mux_in_time_order(output: av.container.OutputContainer, *packet_lists: list[av.Packet]) -> None:
    """Write the packets of all streams interleaved by decoding time."""

    def when(p: av.Packet) -> float:
        return float(_dts(p) * p.time_base)

    for packet in sorted((p for ps in packet_lists for p in ps), key=when):
        output.mux(packet)
