"""The whole pipeline on real clips with the tiny model: exact length, determinism, labels, errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from generator_service.config import GenerationConfig
from generator_service.demo_clip import make_performer_clip
from generator_service.errors import Cancelled, VideoError
from generator_service.pipeline.hits import Hit
from generator_service.pipeline.score import Scorer, ScoreRequest
from generator_service.pipeline.score_lock import LockRequest
from generator_service.progress import CancelToken

from .drums import require_rubberband


@pytest.fixture(scope="module")
def scorer(tiny) -> Scorer:
    return Scorer(tiny)


def _clip(tmp_path: Path, seconds: float, fps, name: str = "clip.mp4") -> Path:
    return make_performer_clip(tmp_path / name, duration=seconds, fps=fps, size=(160, 90))


@pytest.mark.parametrize(
    "seconds,fps,start,end",
    [
        (0.5, 25, None, None),
        (7.5, Fraction(30000, 1001), 0.0, 7.37),
        (3.0, Fraction(24000, 1001), 0.413, 2.9),
        (2.0, 60, None, None),
    ],
)
def test_every_take_is_exactly_the_range_long(tmp_path, scorer, seconds, fps, start, end) -> None:
    clip = _clip(tmp_path, seconds, fps)
    gen = GenerationConfig(prompt="test", variants=2, window_s=1.0, context_s=0.3)
    result = scorer(ScoreRequest(clip, start, end, gen))
    from generator_service.pipeline.video import probe_video

    s = 0.0 if start is None else start
    e = probe_video(clip).duration if end is None else end
    expected = round((e - s) * 32000)
    assert result.num_samples == expected
    assert [t.shape for t in result.takes] == [(expected,), (expected,)]
    assert all(np.isfinite(t).all() and np.abs(t).max() > 0 for t in result.takes)
    assert result.untrained and result.metadata()["note"].startswith("UNTRAINED")
    assert result.visual == "unused" and result.seeds == [0, 1]


@pytest.mark.slow
def test_a_61_second_clip_is_scored_window_by_window_to_the_exact_sample(tmp_path, scorer) -> None:
    clip = _clip(tmp_path, 61.0, 25)
    seen = []
    result = scorer(
        ScoreRequest(clip, generation=GenerationConfig(guidance_scale=1.0)),
        progress=lambda phase, done, total: seen.append(phase),
    )
    assert result.num_samples == 61 * 32000 == result.takes[0].shape[0]
    assert "generate" in seen and "decode_audio" in seen


def test_same_seed_identical_audio_different_seed_different(tmp_path, scorer) -> None:
    clip = _clip(tmp_path, 1.0, 25)
    gen = GenerationConfig(prompt="funk", seed=11)
    a = scorer(ScoreRequest(clip, generation=gen)).takes[0]
    b = scorer(ScoreRequest(clip, generation=gen)).takes[0]
    c = scorer(ScoreRequest(clip, generation=GenerationConfig(prompt="funk", seed=12))).takes[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_range_fails_before_any_generation(tmp_path, scorer) -> None:
    clip = _clip(tmp_path, 1.0, 25)
    calls = []
    with pytest.raises(VideoError, match="clip.mp4"):
        scorer(ScoreRequest(clip, 0.5, 3.0), progress=lambda *a: calls.append(a))
    assert calls == []


def test_cancel_during_generation_raises_cancelled(tmp_path, scorer) -> None:
    clip = _clip(tmp_path, 2.0, 25)
    token = CancelToken()

    def progress(phase, done, total):
        if phase == "generate" and done == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        scorer(ScoreRequest(clip), progress=progress, cancel=token)


# -- the beat lock and the prompt schedule ------------------------------------------------------------


def _decoded(scorer: Scorer, num_samples: int, gen: GenerationConfig) -> np.ndarray:
    """What the pipeline decodes for `num_samples` samples before any lock: codes -> audio, exact length."""
    from generator_service.audio import fit_length
    from generator_service.pipeline.generate import decode_codes, frames_for_samples, generate_codes

    mm = scorer.music
    codes = generate_codes(mm, frames_for_samples(num_samples, mm.hop_length), gen)
    audio = decode_codes(
        mm,
        codes,
        chunk_frames=round((gen.window_s or mm.max_window_s) * mm.frame_rate),
        overlap_frames=max(1, round(gen.crossfade_s * mm.frame_rate)),
    )
    return fit_length(audio, num_samples)


def test_beat_lock_off_leaves_the_decoded_audio_untouched(tmp_path, scorer) -> None:
    clip = _clip(tmp_path, 2.0, 25)
    gen = GenerationConfig(prompt="funk", seed=5)
    result = scorer(ScoreRequest(clip, 0.0, 1.5, gen, lock=LockRequest("off", (Hit(0.7, "cut"),))))
    assert np.array_equal(result.takes[0], _decoded(scorer, 48000, gen)[0])
    assert result.metadata()["beat_lock"] == "off" and result.visual == "unused"
    assert result.lock == [{"mode": "off", "locked": False, "reason": "beat lock off"}]
    assert result.hits == [{"t": 0.7, "kind": "cut", "strength": 1.0}]


def test_the_lock_runs_after_decoding_keeps_the_exact_length_and_reports_each_take(tmp_path, scorer) -> None:
    """A performer, a cut and a marker (video clock; the range starts at 0.4 s): every take locked
    on its own, exactly the range's samples, the report's fields filled (the tiny model's noise has
    no beat worth locking: the test asserts what is reported, not how well it aligns)."""
    require_rubberband()
    clip = _clip(tmp_path, 4.5, 25)
    hits = (Hit(1.4, "cut"), Hit(2.9, "marker", 0.5), Hit(4.45, "cut"))  # the last lies outside [0.4, 4.0)
    gen = GenerationConfig(prompt="funk", seed=5, variants=2, window_s=2.0, context_s=0.5)
    result = scorer(ScoreRequest(clip, 0.4, 4.0, gen, lock=LockRequest("both", hits)))
    assert result.num_samples == round(3.6 * 32000) and [t.shape for t in result.takes] == [(115200,)] * 2
    assert result.hits == [
        {"t": pytest.approx(1.0), "kind": "cut", "strength": 1.0},
        {"t": pytest.approx(2.5), "kind": "marker", "strength": 0.5},
    ]
    assert result.beat_lock == "both" and len(result.lock) == 2
    for report in result.lock:
        assert report["mode"] == "both" and isinstance(report["locked"], bool) and report["reason"]
        low, high = report["stretch_range"]
        assert 0.92 - 1e-6 <= low <= high <= 1.08 + 1e-6
        assert report["motion_beats"] >= 4 and report["motion_tempo_bpm"] is not None  # the performer bobs
        for when in ("before", "after"):
            side = report["alignment"][when]
            assert side["hits"] == 2 and 0 <= side["hits_landed"] <= 2 and 0.0 <= side["beat_f"] <= 1.0
        if report["locked"]:
            assert report["beat_anchors"] + report["hit_anchors"] >= 1


def test_without_a_person_the_automatic_lock_takes_the_hits_or_says_why(tmp_path, scorer) -> None:
    clip = make_performer_clip(tmp_path / "empty.mp4", duration=2.0, fps=25, size=(160, 90), person_absent=[(0.0, 2.0)])
    bare = scorer(ScoreRequest(clip, generation=GenerationConfig(seed=1)))
    assert bare.beat_lock == "hits"
    assert bare.lock == [{"mode": "hits", "locked": False, "reason": "no person in the clip and no hits to lock to"}]
    with_hits = scorer(
        ScoreRequest(clip, generation=GenerationConfig(seed=1), lock=LockRequest(None, (Hit(1.0, "marker"),)))
    )
    assert with_hits.beat_lock == "hits" and with_hits.lock[0]["mode"] == "hits"
    assert with_hits.lock[0]["motion_beats"] == 0 and with_hits.num_samples == 64000


def test_an_explicit_lock_without_rubberband_fails_before_any_work(tmp_path, scorer, monkeypatch) -> None:
    from generator_service.pipeline.rubberband import RubberBandError

    clip = _clip(tmp_path, 1.0, 25)
    monkeypatch.setenv("PATH", str(tmp_path))
    calls = []
    with pytest.raises(RubberBandError, match="rubberband"):
        scorer(ScoreRequest(clip, lock=LockRequest("motion")), progress=lambda *a: calls.append(a))
    assert calls == []
    auto = scorer(ScoreRequest(clip, lock=LockRequest(None, (Hit(0.5, "cut"),))))  # automatic: untouched, says why
    assert not auto.lock[0]["locked"] and "apt-get install rubberband-cli" in auto.lock[0]["reason"]


def test_a_long_clip_gets_a_prompt_per_segment_window_by_window(tmp_path, scorer, monkeypatch) -> None:
    """5 s at a 3 s window: the schedule splits at the cut (2.5 s, where the performer leaves), the
    two windows get the two segments' prompts (the user's words + each segment's), in order (that a
    window's own prompt reaches it: test_generate)."""
    from generator_service.pipeline import generate

    clip = make_performer_clip(
        tmp_path / "leaves.mp4", duration=5.0, fps=25, size=(320, 180), person_absent=[(2.5, 5.0)]
    )
    asked: list[list[str]] = []
    real = generate.encode_texts
    monkeypatch.setattr(
        generate, "encode_texts", lambda mm, prompts, *a: asked.append(list(prompts)) or real(mm, prompts, *a)
    )
    gen = GenerationConfig(prompt="jazz", window_s=3.0, context_s=0.5)
    result = scorer(ScoreRequest(clip, generation=gen, auto_prompt=True, lock=LockRequest("off", (Hit(2.5, "cut"),))))
    assert [(s["start"], s["end"], s["cause"]) for s in result.schedule] == [(0.0, 2.5, "start"), (2.5, 5.0, "cut")]
    prompts = [s["prompt"] for s in result.schedule]
    assert all(p.startswith("jazz, ") and len(p) > len("jazz, ") for p in prompts)
    assert asked == [prompts]  # two windows, one per segment, each with its segment's prompt
    assert result.prompt_used == " | ".join(dict.fromkeys(prompts)) and result.num_samples == 160000
    short = scorer(ScoreRequest(clip, 0.0, 2.0, gen, auto_prompt=True, lock=LockRequest("off")))
    assert short.schedule == []  # one window: one prompt
