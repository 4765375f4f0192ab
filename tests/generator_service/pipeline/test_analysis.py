"""Track analysis: coverage, energy, tempo from motion periodicity, expression, prompt suffix."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from expotion_protocol.features import FEATURE_SPEC
from generator_service.config import FeatureConfig
from generator_service.pipeline.analysis import analyze_track, estimate_tempo, suggest_prompt
from generator_service.pipeline.feature_track import FeatureTrack
from generator_service.pipeline.features import FeatureExtractor

from .scenes import bobbing_frames

S = FEATURE_SPEC
FPS = 10.0


def _track(n: int, fps: float = FPS, person: np.ndarray | None = None, face: np.ndarray | None = None) -> FeatureTrack:
    times = np.arange(n) / fps
    person = np.ones(n, bool) if person is None else person
    face = np.zeros(n, bool) if face is None else face
    values = np.zeros((n, S.dim))
    values[:, S.index("pose.present")] = person
    values[:, S.index("face.present")] = face
    return FeatureTrack(times, times, values, face, person, fps)


def _bobbing_track(
    bpm: float, seconds: float = 8.0, noise: float = 0.2, seed: int = 0, shape: str = "sine"
) -> FeatureTrack:
    """Body-centre y velocity periodic at `bpm`, plus noise on every velocity channel."""
    rng = np.random.default_rng(seed)
    track = _track(int(seconds * FPS))
    phase = 2 * np.pi * bpm / 60.0 * track.times + rng.uniform(0, 2 * np.pi)
    wave = np.sin(phase)
    if shape == "nod":  # a sharp nod: fast down, slow up (rich in harmonics)
        wave += 0.6 * np.sin(2 * phase) + 0.3 * np.sin(3 * phase)
    track.values[:, S.index("pose.body_vel.y")] = 2.0 * wave
    vel = np.r_[np.arange(S.dim)[S.group("pose.velocity")], np.arange(S.dim)[S.group("pose.body_velocity")]]
    track.values[:, vel] += rng.normal(0, noise, (len(track), vel.size))
    track.values[:, S.index("pose.energy")] = np.abs(track.values[:, S.index("pose.body_vel.y")])
    return track


# ---- synthetic tracks (pure numpy) -------------------------------------------------------------


@pytest.mark.parametrize("bpm", [48, 60, 75, 90, 100, 120, 128, 150, 180, 210])
def test_tempo_of_a_sinusoidal_bob(bpm: float) -> None:
    tempo = estimate_tempo(_bobbing_track(bpm, seed=bpm))
    assert tempo.bpm == pytest.approx(bpm, abs=2.0)
    assert tempo.confidence > 0.5


@pytest.mark.parametrize("bpm", [70, 100, 120])
def test_tempo_of_a_non_sinusoidal_nod_is_its_fundamental(bpm: float) -> None:
    tempo = estimate_tempo(_bobbing_track(bpm, shape="nod", seed=bpm))
    assert tempo.bpm == pytest.approx(bpm, abs=2.0)


def test_tempo_uses_signed_velocity_not_speed() -> None:
    track = _bobbing_track(90)  # energy = |velocity| peaks at 180 BPM; the tempo must stay 90
    assert estimate_tempo(track).bpm == pytest.approx(90, abs=2.0)


def test_noise_short_and_absent_give_no_tempo() -> None:
    noise = _bobbing_track(100, noise=1.0)
    noise.values[:, S.index("pose.body_vel.y")] = np.random.default_rng(5).normal(0, 1.0, len(noise))
    assert estimate_tempo(noise).bpm is None and estimate_tempo(noise).confidence == 0.0
    assert estimate_tempo(_bobbing_track(120, seconds=2.0)).bpm is None
    nobody = _track(80, person=np.zeros(80, bool))
    assert estimate_tempo(nobody).bpm is None and estimate_tempo(nobody).confidence == 0.0


def test_no_person_analysis_is_null_and_json_able() -> None:
    result = analyze_track(_track(40, person=np.zeros(40, bool)))
    json.dumps(result)
    assert result["duration_s"] == 4.0
    assert result["face"]["coverage"] == 0.0 and result["person"]["coverage"] == 0.0
    assert result["motion"]["tempo_bpm"] is None and result["motion"]["tempo_confidence"] == 0.0
    assert result["motion"]["energy_curve"] == [0.0] * 40 and result["motion"]["energy_mean"] == 0.0
    assert result["expression"] is None and result["visual_condition"] == "null"
    assert result["suggested_prompt"] == ""


def test_empty_track() -> None:
    result = analyze_track(FeatureTrack.empty(FPS))
    assert result["duration_s"] == 0.0 and result["visual_condition"] == "null"


@pytest.mark.parametrize(
    ("shapes", "mood"),
    [({"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8}, "upbeat"),
     ({"mouthFrownLeft": 0.5, "mouthFrownRight": 0.5, "browDownLeft": 0.4, "browDownRight": 0.4}, "melancholic"),
     ({"jawOpen": 0.9, "eyeWideLeft": 0.8, "eyeWideRight": 0.8}, "dramatic"),
     ({}, None)],
)  # fmt: skip
def test_expression_summary(shapes: dict[str, float], mood: str | None) -> None:
    track = _track(30, face=np.ones(30, bool))
    for name, value in shapes.items():
        track.values[:, S.index(f"face.bs.{name}")] = value
    expression = analyze_track(track)["expression"]
    assert expression["mood"] == mood
    assert -1 <= expression["valence"] <= 1 and 0 <= expression["intensity"] <= 1
    if shapes:
        assert expression["top_blendshapes"][0]["name"] in shapes


def test_suggest_prompt() -> None:
    assert suggest_prompt("upbeat", "energetic", 119.6) == "upbeat, energetic, 120 BPM"
    assert suggest_prompt(None, "calm", None) == "calm"
    assert suggest_prompt(None, None, None) == ""


# ---- real MediaPipe on a real photo ------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureExtractor]:
    config = FeatureConfig(feature_fps=FPS, cache_dir=tmp_path_factory.mktemp("cache"))
    with FeatureExtractor(config) as fx:
        yield fx


@pytest.fixture(scope="module")
def bob_tracks(extractor: FeatureExtractor) -> dict[float, FeatureTrack]:
    """7 s at 10 fps of the performer bobbing at 2.0 Hz and 1.5 Hz, 5 s standing still."""
    return {hz: extractor.extract(bobbing_frames(n, hz, FPS), n) for hz, n in ((2.0, 70), (1.5, 70), (0.0, 50))}


@pytest.mark.slow
@pytest.mark.parametrize(("bob_hz", "bpm"), [(2.0, 120.0), (1.5, 90.0)])
def test_tempo_of_a_bobbing_performer(bob_tracks: dict[float, FeatureTrack], bob_hz: float, bpm: float) -> None:
    result = analyze_track(bob_tracks[bob_hz])
    json.dumps(result)
    motion = result["motion"]
    assert motion["tempo_bpm"] == pytest.approx(bpm, abs=4.0)
    assert motion["tempo_confidence"] > 0.5
    assert f"{round(motion['tempo_bpm'])} BPM" in result["suggested_prompt"]
    assert result["face"]["coverage"] > 0.9 and result["person"]["coverage"] > 0.9
    assert len(motion["energy_curve"]) == 70 and result["duration_s"] == 7.0


@pytest.mark.slow
def test_still_performer_has_no_tempo_and_less_energy(bob_tracks: dict[float, FeatureTrack]) -> None:
    still, moving = analyze_track(bob_tracks[0.0]), analyze_track(bob_tracks[2.0])
    assert still["motion"]["tempo_bpm"] is None and still["motion"]["tempo_confidence"] == 0.0
    assert still["motion"]["energy_mean"] < 0.5 * moving["motion"]["energy_mean"]
    assert still["motion"]["energy_level"] == "calm"
    assert still["expression"]["mood"] == "upbeat" and still["expression"]["smile"] > 0.5
    assert "BPM" not in still["suggested_prompt"] and still["suggested_prompt"].startswith("upbeat")
