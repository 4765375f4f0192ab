"""The beat-locked systems: the base system's music locked to the clip's motion beats and hits,
scored before and after, in the aggregates, the JSON and the HTML report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from generator_service.errors import ConfigError
from generator_service.evaluation import inputs, results, runner
from generator_service.evaluation import report as rep
from generator_service.pipeline.hits import Hit

from ..pipeline.drums import drum_track, require_rubberband
from .signals import FPS, bobbing, swell

SECONDS = 12.0
SYSTEMS = ("beat-locked+schedule", "beat-locked", "text-only")


def _items(n: int = 2) -> list[inputs.EvalItem]:
    """Performers bobbing at 2 Hz (bottoms at 0.25 + k/2 s) with a cut on a bob."""
    items = []
    for k in range(n):
        energy, vel = bobbing(2.0, SECONDS, noise=0.05, seed=k)
        items.append(
            inputs.EvalItem(
                f"clip-{k}", FPS, energy, swell(SECONDS), vel, prompt="drums", seed=k, hits=(Hit(6.25, "cut"),)
            )
        )
    return items


def _generate(calls: list[str]):
    def generate(item: inputs.EvalItem, system: str) -> np.ndarray:
        calls.append(system)
        if system == "text-only":  # 5 % fast, off phase
            return drum_track(126, SECONDS, first_beat_s=0.45, seed=item.seed or 0)
        assert system == "text-only+schedule"
        return drum_track(115, SECONDS, first_beat_s=0.05, seed=item.seed or 0)  # 4 % slow, off phase

    return generate


@pytest.fixture(scope="module")
def locked_report() -> tuple[results.EvalReport, list[str], list[tuple]]:
    require_rubberband()
    calls: list[str] = []
    seen: list[tuple] = []
    report = runner.evaluate(
        _items(), _generate(calls), inputs.EvalConfig(systems=SYSTEMS), progress=lambda *a: seen.append(a)
    )
    return report, calls, seen


def test_only_the_bases_are_generated_and_every_analysis_is_counted(locked_report) -> None:
    report, calls, seen = locked_report
    assert calls == ["text-only+schedule", "text-only"] * 2
    assert seen[0] == ("evaluate", 0, 8) and seen[-1] == ("evaluate", 8, 8)  # 3 systems + hidden base, 2 clips


def test_the_lock_moves_beats_and_hits_onto_the_performer(locked_report) -> None:
    report, _, _ = locked_report
    for system, base in (("beat-locked", "text-only"), ("beat-locked+schedule", "text-only+schedule")):
        st = report.locks[system]
        assert st["base"] == base and st["locked"] == 2 and st["n_clips"] == 2
        assert st["beat_f_before"] < 0.6 and st["beat_f_after"] >= 0.8
        assert st["hit_rate_after"] == 1.0
    agg = report.aggregate
    assert agg["beat-locked"]["beat_f"] == pytest.approx(report.locks["beat-locked"]["beat_f_after"])
    assert agg["text-only"]["beat_f"] == pytest.approx(report.locks["beat-locked"]["beat_f_before"])
    assert agg["beat-locked"]["hit_rate"] == 1.0
    assert report.paired["beat-locked+schedule vs text-only"]["beat_f"]["mean_diff"] > 0.3


def test_lock_details_reach_the_json_and_the_html(locked_report, tmp_path) -> None:
    report, _, _ = locked_report
    html_path, json_path = rep.write_report(report, tmp_path)
    data = json.loads(json_path.read_text())
    assert data["locks"]["beat-locked"]["locked"] == 2
    clip = data["clips"][0]
    assert clip["hits"] == [{"t": 6.25, "kind": "cut", "strength": 1.0}]
    lock = clip["locks"]["beat-locked"]
    assert lock["locked"] is True and lock["reason"].startswith("locked") and lock["base"] == "text-only"
    assert 0.92 <= lock["stretch_range"][0] <= lock["stretch_range"][1] <= 1.08
    assert clip["scores"]["beat-locked"]["hits"]["landed"] == 1
    text = html_path.read_text()
    assert "Beat lock: before → after" in text and "beat F before → after" in text and "2 of 2" in text


def test_music_that_cannot_be_locked_is_scored_as_it_was() -> None:
    require_rubberband()
    item = _items(1)[0]
    item.hits = ()  # (with a hit, the hit alone would be locked)
    item.generated["text-only"] = drum_track(150, SECONDS)  # 25 % off: no honest lock
    report = runner.evaluate([item], None, inputs.EvalConfig(systems=("beat-locked", "text-only")))
    lock = report.clips[0].locks["beat-locked"]
    assert not lock.locked and "tempo too far" in lock.reason
    assert report.aggregate["beat-locked"]["beat_f"] == pytest.approx(report.aggregate["text-only"]["beat_f"])


def test_a_locked_system_needs_its_base_music() -> None:
    with pytest.raises(ConfigError, match="clip-0/text-only"):
        runner.evaluate(_items(1), None, inputs.EvalConfig(systems=("beat-locked",)))


def test_missing_rubberband_fails_before_any_generation(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from generator_service.pipeline.rubberband import RubberBandError

    monkeypatch.setenv("PATH", str(tmp_path))
    calls: list[str] = []
    with pytest.raises(RubberBandError):
        runner.evaluate(_items(1), _generate(calls), inputs.EvalConfig(systems=("beat-locked",)))
    assert calls == []
