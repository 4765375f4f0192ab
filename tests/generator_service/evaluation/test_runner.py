"""The evaluate loop: generation injected, ground truth scored, aggregates, pairing, FAD hook."""

from __future__ import annotations

import json

import numpy as np
import pytest

from generator_service.errors import Cancelled, ConfigError
from generator_service.evaluation import inputs, runner
from generator_service.progress import CancelToken

from .conftest import DURATION_S, fake_generate, make_items


def test_model_that_follows_the_performer_beats_the_text_only_baseline(small_report):
    agg = small_report.aggregate
    assert set(agg) == {"expotion", "text-only", inputs.GROUND_TRUTH}
    assert agg["expotion"]["beat_f"] > 0.8 > agg["text-only"]["beat_f"] + 0.3
    assert agg["expotion"]["tempo_match"] == 1.0 and agg["text-only"]["tempo_match"] == 0.0
    assert agg["expotion"]["expression_energy_r"] > 0.8
    assert agg["expotion"]["tempo_match_reference"] == 1.0
    pair = small_report.paired["expotion vs text-only"]
    assert pair["beat_f"]["wins"] == 2 and pair["beat_f"]["mean_diff"] > 0.3
    assert agg[inputs.GROUND_TRUTH]["beat_f"] > 0.8  # the instrument's ceiling: clicks on the bob


def test_generate_is_called_once_per_clip_and_system_with_the_item():
    calls = []

    def generate(item, system):
        calls.append((item.clip_id, item.seed, item.prompt, system))
        return fake_generate(item, system)

    items = make_items(2)
    items[1].generated["text-only"] = fake_generate(items[1], "text-only")
    seen = []
    runner.evaluate(items, generate, progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert [c[3] for c in calls] == ["expotion", "text-only", "expotion"]
    assert calls[0][1:3] == calls[1][1:3]  # same seed and prompt for both systems
    assert seen[0] == ("evaluate", 0, 6) and seen[-1] == ("evaluate", 6, 6)


def test_pregenerated_audio_needs_no_generate():
    items = make_items(1)
    for system in inputs.SYSTEMS:
        items[0].generated[system] = fake_generate(items[0], system)
    items[0].ground_truth_audio = None
    report = runner.evaluate(items)
    assert inputs.GROUND_TRUTH not in report.aggregate
    assert report.clips[0].scores["expotion"].beats_vs_reference is None


def test_missing_audio_without_generate_fails_before_any_work():
    with pytest.raises(ConfigError, match="clip-0/expotion"):
        runner.evaluate(make_items(1))


def test_cancel_stops_the_loop():
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        runner.evaluate(make_items(1), fake_generate, cancel=token)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"systems": ()}, "systems"),
        ({"systems": ("a", "a")}, "systems"),
        ({"tolerance_s": 0.0}, "tolerance_s"),
        ({"tempo_tolerance": 0.7}, "tempo_tolerance"),
        ({"min_excursion": 1.0}, "min_excursion"),
    ],
)
def test_config_validates_itself(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        inputs.EvalConfig(**kwargs)


def test_item_and_audio_shapes_are_checked():
    with pytest.raises(ConfigError, match="expression_intensity"):
        inputs.EvalItem("x", 10.0, np.zeros(10), np.zeros(9))
    items = make_items(1)
    with pytest.raises(ConfigError, match="mono audio"):
        runner.evaluate(items, lambda item, system: np.zeros((2, 100)))


def test_length_mismatch_is_noted_and_scored_over_the_overlap():
    items = make_items(1)
    items[0].ground_truth_audio = None
    short = {s: fake_generate(items[0], s)[: 32_000 * 4] for s in inputs.SYSTEMS}
    report = runner.evaluate(items, lambda item, system: short[system])
    assert any("audio is 4.00 s" in n for n in report.notes)
    assert report.clips[0].scores["expotion"].beats.n_motion <= 8


def test_json_has_every_number_and_no_nan(small_report):
    data = json.loads(json.dumps(small_report.to_dict(), allow_nan=False))
    clip = data["clips"][0]
    assert clip["scores"]["expotion"]["beats"]["tolerance_s"] == 0.1
    assert clip["scores"]["expotion"]["tempo"]["tolerance"] == 0.04
    assert clip["scores"]["expotion"]["beats"]["score"] == clip["scores"]["expotion"]["beats"]["f_measure"]
    assert len(clip["motion"]["event_times"]) == pytest.approx(DURATION_S * 2, abs=1)
    assert data["config"]["systems"] == ["expotion", "text-only"]
    assert data["meta"] == {"model": "fake", "adapter": "none"}


def test_optional_reference_models_are_injected_callables():
    def embed(audio, sr):  # [T, D]: log-energy of 0.25 s frames in 4 bands
        frames = audio[: audio.size // 8000 * 8000].reshape(-1, 8000)
        spec = np.abs(np.fft.rfft(frames, axis=1))
        return np.log1p(np.stack([b.sum(axis=1) for b in np.array_split(spec, 4, axis=1)], axis=1))

    texts = []

    def clap(audio, sr, text):
        texts.append(text)
        return 0.5

    report = runner.evaluate(make_items(2), fake_generate, embedder=embed, text_scorer=clap)
    assert set(report.fad) == {"expotion", "text-only"}
    assert all(v >= 0 for v in report.fad.values())
    assert report.aggregate["expotion"]["text_score"] == 0.5
    assert "60 bpm <b>groove</b>" not in texts and "120 bpm <b>groove</b>" in texts
