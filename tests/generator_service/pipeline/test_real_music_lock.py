"""The beat lock on real recorded music (`bench.real_music`: Bach on harpsichord, Ravel's Bolero,
two pop excerpts; mono and stereo; 24/32/44.1/48 kHz) against ground-truth motion beats: a
performer bobbing at a known tempo within and beyond the stretch bound, with 15 ms of jitter.

Every report is honest (locked only when the output's beat F rose by the margin and beat chance;
otherwise the music comes back untouched and says why), the clear-beat cases within the bound do
lock, the stretch sounds clean (peak <= 1, no clicks, gaps or DC, exact length, same layout).
`python -m generator_service bench beatlock` prints the same cases as a table.
"""

from __future__ import annotations

import numpy as np
import pytest

from generator_service.bench.real_music import CASES, lock_case
from generator_service.pipeline.beatlock import DEFAULT_MAX_STRETCH
from generator_service.pipeline.lock_report import MIN_BEAT_GAIN

from .drums import require_rubberband


@pytest.fixture(scope="module")
def results() -> dict:
    require_rubberband()
    return {(name, off): lock_case(name, off) for name, off, _ in CASES}


@pytest.mark.parametrize(("name", "off", "want"), CASES, ids=[f"{n}{o:+.2f}-{w}" for n, o, w in CASES])
def test_the_lock_report_is_true_on_real_music(results, name, off, want):
    case = results[(name, off)]
    audio, rate, duration, res = case.audio, case.rate, case.duration, case.result
    before, after = res.measured["alignment"]["before"], res.measured["alignment"]["after"]
    n = int(round(duration * rate))
    assert res.num_samples == n and res.audio.shape[1:] == audio.shape[1:] and res.sample_rate == rate
    if res.locked:
        assert after["beat_f"] >= before["beat_f"] + MIN_BEAT_GAIN
        assert after["beat_f"] > after["beat_chance_f"]
        assert not np.array_equal(res.audio, audio[:n])
        # graded against the ground truth with the usual +-70 ms window, not the lock's own ruler
        assert case.f_after > case.f_before and case.f_after > case.chance_f
    else:
        assert after == before
        np.testing.assert_array_equal(res.audio, audio[:n])
        assert res.stretch_range == (1.0, 1.0)
    if want == "lock":
        assert res.locked, res.reason
        assert res.reason.startswith("locked: ")
    elif want != "any":
        assert not res.locked
        if want == "far":
            assert res.reason.startswith("tempo too far: "), res.reason
        elif want == "weak":
            assert "no better than chance" in res.reason and "left as it was" in res.reason, res.reason


def _silent_runs(x: np.ndarray, rate: int, run_s: float = 0.05) -> int:
    """Runs of at least `run_s` of 10 ms frames below -80 dBFS."""
    mono = x if x.ndim == 1 else x.mean(axis=1)
    hop = rate // 100
    frames = mono[: mono.size // hop * hop].reshape(-1, hop)
    quiet = np.sqrt((frames**2).mean(axis=1)) < 1e-4
    runs, length = 0, 0
    for q in quiet:
        length = length + 1 if q else 0
        runs += length == int(run_s * 100)
    return runs


def _max_jump(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, axis=0)).max())


@pytest.mark.parametrize(("name", "off"), [(n, o) for n, o, w in CASES if w == "lock"])
def test_the_stretch_of_real_music_sounds_clean(results, name, off):
    rate, res = results[(name, off)].rate, results[(name, off)].result
    audio = results[(name, off)].audio
    out, src = res.audio, audio[: res.num_samples]
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    assert float(np.abs(out).max()) <= 1.0
    # no DC beyond the recording's own
    assert np.all(np.abs(out.mean(axis=0)) <= np.abs(src.mean(axis=0)) + 2e-3)
    # no gaps: no 50 ms of digital silence the recording does not have
    assert _silent_runs(out, rate) <= _silent_runs(src, rate)
    # no clicks at the anchors: no sample-to-sample jump beyond the recording's own steepest
    assert _max_jump(out) <= 1.25 * _max_jump(src)
    # the level is the recording's (the stretch neither drops nor boosts it)
    ratio = float(np.sqrt((out.astype(np.float64) ** 2).mean() / (src.astype(np.float64) ** 2).mean()))
    assert 0.8 < ratio < 1.2
    lo, hi = res.stretch_range
    assert 1 - DEFAULT_MAX_STRETCH - 1e-6 <= lo <= hi <= 1 + DEFAULT_MAX_STRETCH + 1e-6
