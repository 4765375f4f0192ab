"""Shared constructed clips and one small evaluated report (built once per session)."""

from __future__ import annotations

import numpy as np
import pytest

from generator_service.evaluation import inputs, results, runner
from generator_service.evaluation.metrics import analyze_music

from .signals import FPS, bobbing, click_track, following_audio, swell

DURATION_S = 6.0


@pytest.fixture(scope="session")
def bob_2hz() -> tuple[np.ndarray, np.ndarray]:
    """Motion energy [N] and body velocity [N, 2] of a 2 Hz bob, bottoms at 0.25 + 0.5 k s."""
    return bobbing(2.0, DURATION_S)


@pytest.fixture(scope="session")
def music_on_beat():
    return analyze_music(click_track(120, DURATION_S, first_s=0.25))


@pytest.fixture(scope="session")
def music_half_beat_late():
    return analyze_music(click_track(120, DURATION_S, first_s=0.5))


@pytest.fixture(scope="session")
def music_silent():
    return analyze_music(np.zeros(int(DURATION_S * 32_000), dtype=np.float32))


def make_items(n: int = 2) -> list[inputs.EvalItem]:
    """`n` clips bobbing at 2 Hz and 1.5 Hz with swelling expression and click-track ground truth."""
    items = []
    for k in range(n):
        freq = (2.0, 1.5)[k % 2]
        energy, vel = bobbing(freq, DURATION_S, noise=0.05, seed=k)
        items.append(
            inputs.EvalItem(
                clip_id=f"clip-{k}",
                fps=FPS,
                motion_energy=energy,
                expression_intensity=swell(DURATION_S),
                body_velocity=vel,
                prompt=f"{int(freq * 60)} bpm <b>groove</b>",
                seed=k,
                ground_truth_audio=click_track(freq * 60, DURATION_S),
            )
        )
    return items


def fake_generate(item: inputs.EvalItem, system: str) -> np.ndarray:
    """'expotion' follows the motion and the face; 'text-only' plays an unrelated tempo, off phase."""
    bpm = float(item.prompt.split()[0])
    if system == "expotion":
        return click_track(bpm, DURATION_S) + 0.3 * following_audio(item.expression_intensity, seed=item.seed or 0)
    return click_track(bpm * 1.37, DURATION_S, first_s=0.4)


@pytest.fixture(scope="session")
def small_report() -> results.EvalReport:
    return runner.evaluate(make_items(), fake_generate, meta={"model": "fake", "adapter": "none"})
