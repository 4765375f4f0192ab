"""The sampled-frame record passed from video decoding to feature extraction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SampledFrame:
    """One frame sampled at `feature_fps`.

    `index` is the sample index i; `target_time` = start + i / feature_fps (seconds in the source
    file); `time` is the true presentation time of the decoded frame shown at `target_time`;
    `image` is [H, W, 3] uint8 RGB, upright (rotation metadata applied), longest side <= max_side.
    """

    index: int
    target_time: float
    time: float
    image: np.ndarray
