"""A melody temp in the pipeline: the span each window hears, the measured report, scoring with
tiny-melody, and the refusal of a model that cannot take a melody."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from generator_service.config import GenerationConfig
from generator_service.demo_clip import make_performer_clip
from generator_service.errors import ConfigError
from generator_service.model.chroma import ChromaSettings
from generator_service.pipeline.melody_input import MelodyRequest, MelodyTemp
from generator_service.pipeline.melody_report import follow_measure
from generator_service.pipeline.score import Scorer, ScoreRequest
from generator_service.pipeline.score_lock import LockRequest

#: A, C, E, G: one note per 0.5 s.
NOTES = 440 * 2 ** (np.array([0, 3, 7, 10]) / 12)


def _tune(rate: int, seconds: float, shift: int = 0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    freq = NOTES[(t // 0.5).astype(int) % len(NOTES)] * 2 ** (shift / 12)
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def temp(tmp_path: Path) -> Path:
    """2 s of the tune, stereo at 44.1 kHz (not the model's rate or channel count)."""
    path = tmp_path / "temp.wav"
    tune = _tune(44100, 2.0)
    sf.write(path, np.stack([tune, 0.5 * tune], axis=1), 44100)
    return path


def test_each_window_hears_its_own_span_of_the_temp(temp: Path) -> None:
    melody = MelodyTemp.load(MelodyRequest(temp, start=0.5))
    assert melody.rate == 44100 and melody.audio.ndim == 1 and melody.seconds == pytest.approx(1.5)
    chroma_at = melody.chroma_at(ChromaSettings())
    first, second = chroma_at(0.0, 0.5), chroma_at(0.5, 1.0)  # C, then E (A skipped by the start)
    assert first.shape == second.shape == (1, 5, 12)  # 0.5 s, padded to one FFT (16384 samples)
    assert int(first[0].sum(0).argmax()) == 0 and int(second[0].sum(0).argmax()) == 4
    # past the temp's end it loops: music 1.5-2.0 s hears the temp from 0.5 s again
    assert np.array_equal(melody.span(1.5, 2.0), melody.span(0.0, 0.5))
    assert melody.describe(2.0)["looped"] and not melody.describe(1.5)["looped"]
    with pytest.raises(ConfigError, match="melody_start: 2.5 s is not inside the melody's 0-2.000 s"):
        MelodyRequest(temp, start=2.5).check()


def test_follows_is_set_only_where_the_music_follows() -> None:
    """The tune itself (stereo, at 32 kHz) follows its temp; the same tune a fourth higher, or
    silence, does not; the chance figure is the temp rotated through the other keys."""
    settings, temp = ChromaSettings(), _tune(44100, 2.0)
    same = follow_measure(np.stack([_tune(32000, 2.0)] * 2), 32000, temp, 44100, settings)
    assert same["follows"] and same["chroma_similarity"] > 0.9 > same["chance_max"]
    moved = follow_measure(_tune(32000, 2.0, shift=5), 32000, temp, 44100, settings)
    assert not moved["follows"] and moved["chroma_similarity"] < moved["chance_max"]
    silent = follow_measure(np.zeros(64000, dtype=np.float32), 32000, temp, 44100, settings)
    assert not silent["follows"] and silent["chroma_similarity"] == 0.0


@pytest.fixture(scope="module")
def tiny_melody(cache_dir: Path):
    from generator_service.model.loading import load_music_model

    return load_music_model("tiny-melody", cache_dir=cache_dir, device="cpu")


def test_scoring_with_a_melody_is_exact_and_reports_what_it_measured(tmp_path, temp, tiny_melody) -> None:
    """Three windows (continuation), each with its span's chroma; exactly the range long; the
    untrained model does not follow and the report says so."""
    clip = make_performer_clip(tmp_path / "clip.mp4", duration=2.4, fps=25, size=(160, 90))
    gen = GenerationConfig(prompt="test", window_s=1.0, context_s=0.3, variants=2)
    melody = MelodyRequest(temp, start=0.5)
    result = Scorer(tiny_melody)(ScoreRequest(clip, 0.2, 2.2, gen, lock=LockRequest(mode="off"), melody=melody))
    assert [t.shape for t in result.takes] == [(64000,), (64000,)]
    block = result.metadata()["melody"]
    assert block["file"] == str(temp) and block["start"] == 0.5 and block["looped"] is True
    assert len(block["takes"]) == 2 and block["follows"] is False
    for take in block["takes"]:
        assert set(take) == {"chroma_similarity", "chance", "chance_max", "frames", "follows"}
        assert take["follows"] is False and take["frames"] > 0
    assert result.untrained


def test_an_adapter_and_a_melody_score_together(tmp_path, temp, cache_dir) -> None:
    """A visual adapter on tiny-melody with a temp: a 0-step one (gates 0) scores bit-identical
    audio to no adapter, the melody report alike; the result names the adapter."""
    from generator_service.model.adapter import AdapterConfig
    from generator_service.model.loading import load_music_model
    from generator_service.training.train import TrainConfig, train

    music = load_music_model("tiny-melody", cache_dir=cache_dir, device="cpu")  # an adapter changes it
    rng = np.random.default_rng(0)
    items = [{"codes": rng.integers(0, 2048, (4, 100)), "condition": np.zeros((100, 112), np.float32)}]
    adapter = train(music, items, [], tmp_path / "ad", TrainConfig(steps=0), AdapterConfig(window_s=2.0))
    clip = make_performer_clip(tmp_path / "clip.mp4", duration=1.5, fps=25, size=(160, 90))
    request = ScoreRequest(
        clip,
        generation=GenerationConfig(prompt="test", seed=4),
        lock=LockRequest(mode="off"),
        melody=MelodyRequest(temp),
    )
    plain = Scorer(music)(request)
    adapted = Scorer(music, adapter=adapter)(request)
    assert np.array_equal(adapted.takes[0], plain.takes[0]) and adapted.takes[0].shape == plain.takes[0].shape
    assert adapted.metadata()["melody"]["takes"] == plain.metadata()["melody"]["takes"]
    assert adapted.metadata()["adapter"] and not plain.metadata().get("adapter")


def test_a_model_that_cannot_take_a_melody_is_refused_before_work(tmp_path, temp, tiny) -> None:
    clip = make_performer_clip(tmp_path / "clip.mp4", duration=0.5, fps=25, size=(160, 90))
    with pytest.raises(ConfigError, match="'tiny' cannot take a melody") as refused:
        Scorer(tiny)(ScoreRequest(clip, melody=MelodyRequest(temp)))
    assert "tiny-melody" in refused.value.hint and "facebook/musicgen-stereo-melody" in refused.value.hint
