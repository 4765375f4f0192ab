"""Synthetic scenes for the feature tests, built in memory from a real photo.

The performer is `skimage.data.astronaut()` (a real person, upper body), pasted on a 640x360 canvas
and moved vertically (`bob_hz`); frames where the performer is absent are a plain grey canvas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache

import numpy as np

from generator_service.pipeline.frames import SampledFrame

CANVAS_HW = (360, 640)
PHOTO_SIDE = 280
PHOTO_TOP, PHOTO_LEFT = 40, 180


@lru_cache(maxsize=4)
def performer_photo(side: int = PHOTO_SIDE) -> np.ndarray:
    """The astronaut photo resized to [side, side, 3] uint8 RGB."""
    from skimage import data
    from skimage.transform import resize

    return (resize(data.astronaut(), (side, side), anti_aliasing=True) * 255).round().astype(np.uint8)


def bob_offset(t: float, bob_hz: float, amplitude_px: float) -> int:
    """Vertical offset of the performer at time t, pixels (y down)."""
    return int(round(amplitude_px * np.sin(2 * np.pi * bob_hz * t)))


def canvas(t: float, bob_hz: float, amplitude_px: float = 30.0, present: bool = True) -> np.ndarray:
    """One frame [360, 640, 3] uint8: the performer at time t, or an empty grey canvas."""
    frame = np.full((*CANVAS_HW, 3), 40, np.uint8)
    if present:
        top = PHOTO_TOP + bob_offset(t, bob_hz, amplitude_px)
        frame[top : top + PHOTO_SIDE, PHOTO_LEFT : PHOTO_LEFT + PHOTO_SIDE] = performer_photo()
    return frame


def bobbing_frames(
    count: int,
    bob_hz: float,
    fps: float = 10.0,
    amplitude_px: float = 30.0,
    present: Callable[[int], bool] = lambda i: True,
) -> Iterator[SampledFrame]:
    """`count` frames sampled at `fps` (true time = target time), generated lazily."""
    for i in range(count):
        t = i / fps
        yield SampledFrame(i, t, t, canvas(t, bob_hz, amplitude_px, present(i)))
