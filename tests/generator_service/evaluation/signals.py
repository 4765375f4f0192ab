"""Constructed signals with known answers: click tracks, bobbing performers, expression swells.

Curves are at FPS with sample i at time i / FPS; audio is mono at SR.
"""

from __future__ import annotations

import numpy as np

SR = 32_000
FPS = 10.0


def click_track(bpm: float, duration_s: float, first_s: float = 0.25, sr: int = SR) -> np.ndarray:
    """Short decaying 1 kHz clicks every 60 / bpm seconds from `first_s`; [S] float32."""
    out = np.zeros(int(round(duration_s * sr)), dtype=np.float32)
    n = int(0.03 * sr)
    t = np.arange(n) / sr
    click = (0.8 * np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.005)).astype(np.float32)
    for start in np.arange(first_s, duration_s, 60.0 / bpm):
        i = int(round(start * sr))
        seg = out[i : i + n]
        seg += click[: seg.size]
    return out


def bobbing(
    freq_hz: float,
    duration_s: float,
    bottom_s: float = 0.25,
    fps: float = FPS,
    amplitude: float = 0.05,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A performer bobbing vertically at `freq_hz`, at the bottom at `bottom_s` + k / freq_hz.

    Position y(t) (+ = down) = A sin(2 pi f t + phi); returns motion energy |v| [N] and body
    velocity [N, 2] (x = 0, y = dy/dt), optionally with Gaussian noise of `noise` x peak speed.
    """
    n = int(round(duration_s * fps))
    t = np.arange(n) / fps
    phi = np.pi / 2 - 2 * np.pi * freq_hz * bottom_s
    w = 2 * np.pi * freq_hz
    vy = amplitude * w * np.cos(w * t + phi)
    if noise:
        vy = vy + np.random.default_rng(seed).normal(0, noise * amplitude * w, n)
    vel = np.stack([np.zeros(n), vy], axis=1)
    return np.abs(vy), vel


def swell(duration_s: float, period_s: float = 4.0, fps: float = FPS) -> np.ndarray:
    """Expression intensity [N] in 0.1..0.9 rising and falling every `period_s`."""
    t = np.arange(int(round(duration_s * fps))) / fps
    return 0.5 - 0.4 * np.cos(2 * np.pi * t / period_s)


def following_audio(
    expression: np.ndarray, fps: float = FPS, sr: int = SR, invert: bool = False, seed: int = 0
) -> np.ndarray:
    """Noise whose loudness and brightness follow `expression` [N] (or its inverse); [S] float32."""
    rng = np.random.default_rng(seed)
    s = int(round(expression.size / fps * sr))
    env = np.interp(np.arange(s) / sr, np.arange(expression.size) / fps, expression)
    if invert:
        env = env.max() + env.min() - env
    t = np.arange(s) / sr
    low = np.sin(2 * np.pi * 220 * t)
    high = rng.normal(0, 0.5, s)
    return (0.5 * env * ((1 - env) * low + env * high)).astype(np.float32)
