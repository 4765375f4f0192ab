"""Synthetic performer clips for the demo and the tests: a real photo of a person, bobbing to a beat.

`make_performer_clip` writes a video (PyAV) of `skimage.data.astronaut()` — a real photograph of a
person, cropped to head and shoulders — on a plain background, moved vertically by
`bob_amplitude * height * sin(2 * pi * bob_hz * t)`, so motion-tempo analysis should read
`60 * bob_hz` BPM. Nothing binary is stored in git: tests generate their clips into a temp dir.

The frame rate is written exactly (29.97 is stored as 30000/1001, see `fps_fraction`), the frame
count is `round(duration * fps)`, and `rotation` writes display-matrix metadata that a player must
apply (the stored pixels are turned the other way, so the displayed picture is upright).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError

logger = logging.getLogger(__name__)

#: Our codec names -> PyAV encoder names.
ENCODERS = {"h264": "libx264", "mpeg4": "mpeg4", "vp9": "libvpx-vp9"}
#: Container suffix -> codecs it may hold.
CONTAINER_CODECS = {
    ".mp4": {"h264", "mpeg4", "vp9"},
    ".mov": {"h264", "mpeg4"},
    ".mkv": {"h264", "mpeg4", "vp9"},
    ".webm": {"vp9"},
}
_ENCODER_OPTIONS = {
    "h264": {"preset": "veryfast", "crf": "20"},  # keeps B-frames: readers must reorder
    "mpeg4": {},  # fixed quality, set on the codec context (see _add_video_stream)
    "vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0"},
}
_NTSC_RATES = {
    29.97: Fraction(30000, 1001),
    23.976: Fraction(24000, 1001),
    59.94: Fraction(60000, 1001),
    119.88: Fraction(120000, 1001),
    47.952: Fraction(48000, 1001),
}
_BACKGROUND = (52, 68, 92)  # plain studio blue-grey
_AUDIO_RATE = 48000
#: Head, shoulders and chest of the 512x512 astronaut photo. Uncropped, the face is too small a part
#: of a 16:9 frame for MediaPipe's face detector (it misses it even at 640x360); cropped, it is
#: found down to 160x90.
_PERSON_CROP = (slice(0, 400), slice(60, 460))


def fps_fraction(fps: float | Fraction) -> Fraction:
    """An exact frame rate: 29.97 -> 30000/1001, 23.976 -> 24000/1001, 59.94 -> 60000/1001, else the
    nearest fraction with a denominator <= 1001 (25.0 -> 25)."""
    if isinstance(fps, Fraction):
        return fps
    if not math.isfinite(fps) or fps <= 0:
        raise ConfigError(f"fps {fps!r} must be a positive finite number")
    for approx, exact in _NTSC_RATES.items():
        if abs(fps - approx) < 5e-3 or abs(fps - float(exact)) < 1e-9:
            return exact
    return Fraction(fps).limit_denominator(1001)


def make_performer_clip(
    path: str | Path,
    *,
    duration: float,
    fps: float | Fraction = 25,
    size: tuple[int, int] = (640, 360),
    bob_hz: float = 2.0,
    bob_amplitude: float = 0.04,
    person_absent: Sequence[tuple[float, float]] = (),
    codec: str = "h264",
    rotation: int = 0,
    with_audio: bool = False,
    seed: int = 0,
) -> Path:
    """Write a clip of a real person bobbing at `bob_hz` -> the path written.

    `size` is the displayed (upright) `(width, height)`; both must be even. `bob_amplitude` is a
    fraction of the height; the photo is scaled so face and shoulders stay in frame at the extremes.
    `person_absent` lists `[t0, t1)` time ranges (seconds) showing only the empty background.
    `codec` is "h264", "mpeg4" or "vp9"; the container follows the suffix (.mp4 .mov .mkv .webm).
    `rotation` (0/90/180/270) is the clockwise turn a player must apply to display the stored
    pixels upright — the convention of `VideoInfo.rotation` and of phone videos (portrait phone
    clips are 90). `with_audio` adds a quiet tone with a click on every bob (AAC, Opus in .webm).
    `seed` drives the faint sensor noise; equal arguments give identical clips.
    """
    path = Path(path)
    rate = fps_fraction(fps)
    n_frames = _check_clip_args(path, duration, rate, size, bob_hz, bob_amplitude, codec, rotation)
    import av

    with av.open(str(path), "w") as out:
        video = _add_video_stream(out, codec, rate, size, rotation)
        audio = _add_audio_stream(out, path) if with_audio else None
        sound = _audio_frames(n_frames / rate, bob_hz) if with_audio else iter(())
        pending = next(sound, None)
        images = _render_frames(n_frames, rate, size, bob_hz, bob_amplitude, person_absent, np.random.default_rng(seed))
        for i, image in enumerate(images):
            stored = np.ascontiguousarray(np.rot90(image, k=rotation // 90))  # counter-clockwise turns
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
            while pending is not None and pending.pts < (i + 1) / rate * _AUDIO_RATE:  # interleave
                out.mux(audio.encode(pending))
                pending = next(sound, None)
        out.mux(video.encode(None))
        if audio is not None:
            out.mux(audio.encode(None))
    logger.debug("wrote %s: %d frames at %s fps, %s, rotation %d", path, n_frames, rate, codec, rotation)
    return path


def _check_clip_args(
    path: Path,
    duration: float,
    rate: Fraction,
    size: tuple[int, int],
    bob_hz: float,
    bob_amplitude: float,
    codec: str,
    rotation: int,
) -> int:
    """Validate the arguments of `make_performer_clip` -> the frame count."""
    suffix = path.suffix.lower()
    if suffix not in CONTAINER_CODECS:
        raise ConfigError(f"clip path {path}: suffix {suffix!r} is not one of {sorted(CONTAINER_CODECS)}")
    if codec not in CONTAINER_CODECS[suffix]:
        raise ConfigError(f"codec {codec!r} cannot be written to a {suffix} file ({path})")
    if not (math.isfinite(duration) and duration > 0):
        raise ConfigError(f"duration {duration!r} s must be positive")
    width, height = size
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ConfigError(f"size {size} must be even and at least 16x16")
    if not (math.isfinite(bob_hz) and bob_hz >= 0):
        raise ConfigError(f"bob_hz {bob_hz!r} must be a non-negative number (Hz)")
    if not 0 <= bob_amplitude <= 0.2:
        raise ConfigError(f"bob_amplitude {bob_amplitude} must lie in [0, 0.2] (a fraction of the height)")
    if rotation not in (0, 90, 180, 270):
        raise ConfigError(f"rotation {rotation} must be 0, 90, 180 or 270")
    n_frames = round(duration * rate)
    if n_frames < 1:
        raise ConfigError(f"duration {duration} s at {rate} fps gives no frame")
    return n_frames


def _add_video_stream(out, codec: str, rate: Fraction, size: tuple[int, int], rotation: int):
    """Add the video stream; time base 1/fps, so frame i has pts i and the rate is exact."""
    width, height = size
    stream = out.add_stream(ENCODERS[codec], rate=rate, options=dict(_ENCODER_OPTIONS[codec]))
    stream.width, stream.height = (height, width) if rotation in (90, 270) else (width, height)
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = 1 / rate
    stream.codec_context.framerate = rate
    if codec == "mpeg4":  # `-q:v 3`: flag qscale, quality in lambda units (FF_QP2LAMBDA = 118)
        stream.codec_context.qscale = True
        stream.codec_context.global_quality = 3 * 118
    if rotation:
        # PyAV's degrees are counter-clockwise (as `VideoFrame.rotation` reads them); ours clockwise.
        stream.set_display_rotation(-rotation)
    return stream


@functools.lru_cache(maxsize=8)
def _photo(height: int, width: int) -> np.ndarray:
    """The cropped astronaut photo scaled to fit [height, width] -> [s, s, 3] uint8, read-only, cached."""
    from skimage import data, transform

    side = max(8, min(height, width))
    person = data.astronaut()[_PERSON_CROP]
    photo = transform.resize(person, (side, side), anti_aliasing=True, preserve_range=True)
    photo = np.clip(np.rint(photo), 0, 255).astype(np.uint8)
    photo.setflags(write=False)
    return photo


def _render_frames(
    n_frames: int,
    rate: Fraction,
    size: tuple[int, int],
    bob_hz: float,
    bob_amplitude: float,
    person_absent: Sequence[tuple[float, float]],
    rng: np.random.Generator,
) -> Iterator[np.ndarray]:
    """Yield the upright frames [H, W, 3] uint8, one per video frame."""
    width, height = size
    amplitude = bob_amplitude * height
    margin = math.ceil(amplitude) + 1
    photo = _photo(height - 2 * margin, width)
    x0 = (width - photo.shape[1]) // 2
    y_rest = (height - photo.shape[0]) / 2
    background = np.empty((height, width, 3), np.uint8)
    background[:] = _BACKGROUND
    for i in range(n_frames):
        t = float(i / rate)
        if any(t0 <= t < t1 for t0, t1 in person_absent):
            image = background.copy()
        else:
            y = y_rest - amplitude * math.sin(2 * math.pi * bob_hz * t)  # up on the beat
            image = _place(background, photo, x0, y)
        noise = rng.integers(-2, 3, size=image.shape, dtype=np.int16)
        yield np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _place(background: np.ndarray, photo: np.ndarray, x0: int, y: float) -> np.ndarray:
    """Paste `photo` at column x0, fractional row y (linear blend of the two nearest rows)."""
    top = math.floor(y)
    frac = y - top
    upper = _paste(background, photo, x0, top)
    if frac < 1e-3:
        return upper
    lower = _paste(background, photo, x0, top + 1)
    blend = upper * np.float32(1 - frac) + lower * np.float32(frac)
    return np.rint(blend).astype(np.uint8)


def _paste(background: np.ndarray, photo: np.ndarray, x0: int, row: int) -> np.ndarray:
    image = background.copy()
    h, w = photo.shape[:2]
    r0, r1 = max(row, 0), min(row + h, background.shape[0])
    image[r0:r1, x0 : x0 + w] = photo[r0 - row : r1 - row]
    return image


def _add_audio_stream(out, path: Path):
    codec = "libopus" if path.suffix.lower() == ".webm" else "aac"
    return out.add_stream(codec, rate=_AUDIO_RATE, layout="mono")


def _audio_frames(seconds: Fraction, bob_hz: float) -> Iterator[Any]:
    """A quiet 440 Hz tone with a short click at every bob peak, `seconds` long, in 1024-sample frames."""
    import av

    n = round(seconds * _AUDIO_RATE)
    t = np.arange(n) / _AUDIO_RATE
    signal = 0.05 * np.sin(2 * np.pi * 440 * t)
    if bob_hz > 0:
        phase = (t * bob_hz - 0.25) % 1.0  # the peak of sin() is a quarter period in
        signal += 0.3 * np.exp(-phase * 200) * np.sin(2 * np.pi * 1500 * t)
    samples = signal.astype(np.float32)
    for start in range(0, n, 1024):
        frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="fltp", layout="mono")
        frame.sample_rate = _AUDIO_RATE
        frame.pts = start
        yield frame
