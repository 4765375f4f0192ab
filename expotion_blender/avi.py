"""Motion-JPEG AVI files written from JPEG frames (the proxy an interactive Score uploads).

Why: Blender's movie writer renders a whole range in one blocking call, so the interactive proxy is
rendered one JPEG frame per timer tick instead (`proxy.ProxyRender`), and this module wraps those
frames into one file the service decodes (FFmpeg reads MJPEG AVI). The frame rate is an exact
fraction (29.97 = 30000/1001), so the file lasts exactly frames / rate. Plain RIFF AVI 1.0 (files
under 1 GiB; the service's default upload limit is 1 GiB too). Imports no `bpy`; runs on the worker
thread.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

AVIF_HASINDEX = 0x10
AVIIF_KEYFRAME = 0x10
MAX_BYTES = 2**30


class AviError(ValueError):
    """The frames cannot be written as an AVI (none, or too large)."""


@dataclass(frozen=True)
class FrameSequence:
    """JPEG frames of a proxy, in order, with their size and exact frame rate."""

    paths: tuple[str, ...]
    width: int
    height: int
    rate: Fraction

    @property
    def folder(self) -> str:
        return os.path.dirname(self.paths[0]) if self.paths else ""


def exact_rate(fps: int, fps_base: float) -> Fraction:
    """Blender's `render.fps / render.fps_base` as a fraction (`fps_base` is float32: 1.001 reads
    1.0010000467, so it is rounded to 6 decimals first; NTSC bases are exact decimals)."""
    if fps <= 0 or fps_base <= 0:
        raise AviError(f"frame rate {fps}/{fps_base} is not positive")
    return (Fraction(fps) / Fraction(str(round(fps_base, 6)))).limit_denominator(1_000_000)


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, body: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", len(body) + 4) + kind + body


def _headers(frames: Sequence[bytes], width: int, height: int, rate: Fraction) -> bytes:
    largest = max(len(f) for f in frames)
    usec = round(1_000_000 / rate)
    avih = struct.pack(
        "<14I", usec, int(largest * rate) + 1, 0, AVIF_HASINDEX, len(frames), 0, 1, largest, width, height, 0, 0, 0, 0
    )
    strh = struct.pack(
        "<4s4sIHHIIIIIIiI4h",
        b"vids",
        b"MJPG",
        0,
        0,
        0,
        0,
        rate.denominator,
        rate.numerator,
        0,
        len(frames),
        largest,
        -1,
        0,
        0,
        0,
        width,
        height,
    )
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0)
    return _list(b"hdrl", _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)))


def write_mjpeg_avi(path: str, sequence: FrameSequence) -> str:
    """Write the frames of `sequence` to `path` (atomically) -> `path`. Raises `AviError`, `OSError`."""
    if not sequence.paths:
        raise AviError("a proxy needs at least one frame")
    frames = []
    for frame_path in sequence.paths:
        with open(frame_path, "rb") as fh:
            frames.append(fh.read())
    movi, index, offset = [], [], 4  # offsets count from the 'movi' fourcc
    for data in frames:
        chunk = _chunk(b"00dc", data)
        index.append(struct.pack("<4sIII", b"00dc", AVIIF_KEYFRAME, offset, len(data)))
        movi.append(chunk)
        offset += len(chunk)
    body = (
        _headers(frames, sequence.width, sequence.height, sequence.rate)
        + _list(b"movi", b"".join(movi))
        + _chunk(b"idx1", b"".join(index))
    )
    if len(body) + 4 > MAX_BYTES:
        raise AviError(f"the proxy would be {len(body) >> 20} MiB, over the 1 GiB an AVI 1.0 file holds")
    tmp = path + ".part"
    with open(tmp, "wb") as out:
        out.write(b"RIFF" + struct.pack("<I", len(body) + 4) + b"AVI " + body)
    os.replace(tmp, path)
    return path
