"""Export a moment as its own MP4: padded, snapped to scene cuts, stream-copied or re-encoded.

:func:`export_clip` writes ``[start_s, end_s)`` seconds of a video (times on the video stream's
clock, as everywhere in the library: the stream's ``start_time`` is 0) into a new file:

1. **Span** (:func:`~.clip_plan.plan_span`): the moment widened by ``pad_before_s`` /
   ``pad_after_s`` (default 1 s each), clamped to ``[0, duration]``. A scene cut inside a padding
   stops the padding there: the latest cut in ``[start - pad, start]`` becomes the start, the
   earliest cut in ``[end, end + pad]`` the end, so a clip does not open or close on a flash of
   the neighbouring shot. Cut times are an input (the library's scene detection).
2. **Mode**:

   - ``copy``: the video packets are copied unchanged (no re-encode) from the **keyframe at or
     before** the span's start, timestamps rebased so that this keyframe is at 0. The clip ends
     with the last frame that starts before the span's end, plus the frames that decoding order
     requires with it (B-frames: the reference frame after a kept B-frame pulls in the B-frames
     up to it, a few frames at most); the reported ``end_s`` is where the last kept frame ends.
     Audio is copied when MP4 players take its codec (AAC, MP3, Opus), else encoded to AAC for
     the same span. The video codec must be one MP4 players take (H.264, HEVC, AV1, VP9).
   - ``exact``: decode and re-encode with libx264 (CRF 18, preset ``veryfast``) and AAC: the
     first frame is the one on screen at the span's start, the last the one on screen just
     before its end (one frame at most from the asked times); source timestamps are kept
     (variable frame rate stays variable).
   - ``auto`` (the default): ``copy`` when the keyframe at or before the start is **near**, i.e.
     at most ``near_s`` seconds earlier (:data:`~.clip_plan.NEAR_KEYFRAME_S` = 1 s, the
     default padding: a copied clip then starts at most one more padding early) and the video
     codec can be copied; ``exact`` otherwise.

   Both modes cut at the nearest frame boundary: a frame that starts less than half a frame
   after the span's start counts as on screen at the start, and one that starts less than half
   a frame before its end is left out (times rounded on their way through a catalog then never
   cost a frame, or turn a keyframe start into a re-encode).
3. **Name** (:func:`~.clip_plan.clip_name`): ``<video stem>_<mm-ss>-<mm-ss>.mp4`` (``h-mm-ss``
   past an hour), start floored and end rounded up to the second; an existing file is never
   overwritten: the name takes a suffix ``_2``, ``_3``, ... (created exclusively).

The clip's packets are held in memory until they are written (the clip's compressed size).
Errors are :class:`~.clip_plan.ClipExportError`, one line with the numbers; nothing is left
behind when an export fails. Reference for the copy rule: FFmpeg's documentation of ``-ss``
with ``-c copy`` (input seeking lands on the preceding keyframe).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import av
from tempme.index.media.clip_plan import (
    DEFAULT_PAD_S,
    NEAR_KEYFRAME_S,
    ClipExport,
    ClipExportError,
    ClipSpan,
    choose_mode,
    clip_name,
    plan_span,
    reserve_path,
)
from tempme.index.media.clip_streams import (
    COPY_AUDIO_CODECS,
    COPY_VIDEO_CODECS,
    VideoPackets,
    copy_audio,
    copy_video_packets,
    copyable,
    encode_audio,
    encode_video,
    mux_in_time_order,
    rebase,
    set_durations,
)

from tempme.video import VideoDecodeError, probe

log = logging.getLogger(__name__)


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
    choose_mode(mode, True, 0.0, None, near_s)  # an unknown mode fails before any work
    src = Path(source)
    try:
        meta = probe(src)  # checks that src is a readable video
        container = av.open(str(src))
    except (VideoDecodeError, av.FFmpegError, OSError) as exc:
        raise ClipExportError(str(exc)) from exc
    path = None
    try:
        span = plan_span(start_s, end_s, meta.duration_s, pad_before_s, pad_after_s, cuts_s)
        vs = container.streams.video[0]
        can_copy = copyable(vs, COPY_VIDEO_CODECS)
        if mode == "copy" and not can_copy:
            raise ClipExportError(
                f"{src.name}: {vs.codec_context.name} video cannot be stream-copied into MP4 "
                f"({', '.join(COPY_VIDEO_CODECS)} can); use mode exact"
            )
        plan = copy_video_packets(container, span.start_s, span.end_s) if can_copy and mode != "exact" else None
        used = choose_mode(mode, can_copy, span.start_s, plan.start_s if plan else None, near_s)
        path = reserve_path(out_dir, clip_name(src, plan.start_s if used == "copy" else span.start_s, span.end_s))
        video, audio = _write(container, path, span, plan if used == "copy" else None)
    except ClipExportError:
        _discard(path)
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        _discard(path)
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ClipExportError(f"{src.name} {start_s:.3f}–{end_s:.3f} s ({mode}): export failed: {reason}") from exc
    finally:
        container.close()
    result = ClipExport(path, used, video.start_s, video.end_s, span, float(start_s), float(end_s), audio, video.frames)
    log.info("exported %s", result.describe())
    return result


def _write(
    container: av.container.InputContainer, path: Path, span: ClipSpan, copied: VideoPackets | None
) -> tuple[VideoPackets, str]:
    """Write the clip: ``copied`` video packets, or the span re-encoded; then its audio.
    Returns the video written and ``copied`` / ``encoded`` / ``none`` for the audio."""
    vs = container.streams.video[0]
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as output:
        if copied is not None:
            video = copied
            rebase(video.packets, video.packets[0].pts, output.add_stream_from_template(vs))
        else:
            video = encode_video(container, output.add_stream("libx264"), span.start_s, span.end_s)
        set_durations(video.packets, round((video.end_s - video.start_s) / float(vs.time_base)))
        audio, kind = [], "none"
        if container.streams.audio:
            a = container.streams.audio[0]
            if copied is not None and copyable(a, COPY_AUDIO_CODECS):
                audio = copy_audio(container, output.add_stream_from_template(a), video.start_s, video.end_s)
                kind = "copied"
            else:
                aout = output.add_stream("aac", rate=a.codec_context.sample_rate or 44100)
                aout.codec_context.layout = "stereo" if a.codec_context.layout.nb_channels >= 2 else "mono"
                audio = encode_audio(container, aout, video.start_s, video.end_s)
                kind = "encoded"
        mux_in_time_order(output, video.packets, audio)
    return video, kind


def _discard(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)
