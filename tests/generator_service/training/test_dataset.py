"""Dataset preparation on real clips (PyAV, MediaPipe, the tiny model's real-size EnCodec) and loading.

One module-scoped dataset is built from: three performer clips with their own audio track, one clip
whose music is a sibling WAV (no audio track), one clip whose own track loses to a shorter sibling
FLAC, and bad files (garbage, no audio anywhere, too short, an audio file without a video).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from expotion_protocol.features import FEATURE_SPEC
from generator_service.config import FeatureConfig
from generator_service.demo_clip import make_performer_clip
from generator_service.errors import Cancelled, ConfigError
from generator_service.pipeline.features import FeatureExtractor
from generator_service.progress import CancelToken
from generator_service.training import dataset_cli
from generator_service.training.audio_io import decode_audio, sibling_audio
from generator_service.training.captions import read_captions
from generator_service.training.dataset import DatasetConfig, prepare_dataset
from generator_service.training.dataset_files import DatasetError, read_manifest
from generator_service.training.window_dataset import collate
from generator_service.training.windowing import assign_split, frames_per_window, window_id, window_starts

FPS = 5.0  # feature rate of the test datasets (half the default: MediaPipe is the slow part)
WINDOW = 1.0
FRAMES = 50
SIZE = (160, 90)
#: Recordings that yield windows -> expected window count (1 s windows, hop 1 s).
GOOD = {"rec_a.mp4": 2, "rec_b.mp4": 3, "sub/rec_c.mp4": 2, "rec_d.mp4": 1}
CAPTIONS = "file,caption\nrec_a.mp4,calm piano\nsub/rec_c.mp4,fast drums\nmissing.mp4,nobody\n"


def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    mono = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def _build_source(src: Path) -> None:
    (src / "sub").mkdir(parents=True)
    clip = dict(size=SIZE, fps=25)
    make_performer_clip(src / "rec_a.mp4", duration=2.5, with_audio=True, **clip)
    make_performer_clip(src / "rec_b.mp4", duration=3.2, with_audio=True, bob_hz=1.5, **clip)
    make_performer_clip(src / "sub" / "rec_c.mp4", duration=2.2, with_audio=False, **clip)
    sf.write(src / "sub" / "rec_c.wav", _tone(2.2, 44100, channels=2), 44100)
    make_performer_clip(src / "rec_d.mp4", duration=3.0, with_audio=True, **clip)
    sf.write(src / "rec_d.flac", _tone(1.2, 48000), 48000)  # sibling wins: 1 window, not 3
    (src / "bad.mp4").write_bytes(b"this is not a video")
    make_performer_clip(src / "noaudio.mp4", duration=1.2, with_audio=False, **clip)
    make_performer_clip(src / "short.mp4", duration=0.6, with_audio=True, **clip)
    sf.write(src / "orphan.wav", _tone(1.5, 16000), 16000)
    (src / "captions.csv").write_text(CAPTIONS)


def _split_seed(recordings, fraction: float) -> int:
    """The first seed that puts some recordings in each split."""
    for seed in range(100):
        if len({assign_split(r, seed, fraction) for r in recordings}) == 2:
            return seed
    raise AssertionError("no seed splits the recordings")


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny):
    root = tmp_path_factory.mktemp("dataset")
    src, out = root / "src", root / "out"
    _build_source(src)
    seed = _split_seed(GOOD, 0.5)
    config = DatasetConfig(
        window_s=WINDOW, test_fraction=0.5, seed=seed, default_prompt="default music", captions=src / "captions.csv"
    )
    features = FeatureConfig(feature_fps=FPS)
    calls: list[tuple[str, int, int]] = []
    summary = prepare_dataset(src, out, tiny, config, features, progress=lambda *a: calls.append(a))
    return dict(root=root, src=src, out=out, summary=summary, config=config, features=features, calls=calls)


@pytest.fixture(scope="module")
def manifest(built):
    return read_manifest(built["out"])


# ---- the prepared dataset ------------------------------------------------------------------------


def test_manifest_lists_every_window_with_its_recording_caption_and_file(built, manifest) -> None:
    out = built["out"]
    assert {r: sum(e["recording"] == r for e in manifest) for r in GOOD} == GOOD
    assert len({e["id"] for e in manifest}) == len(manifest)
    captions = {"rec_a.mp4": "calm piano", "sub/rec_c.mp4": "fast drums"}
    for entry in manifest:
        assert set(entry) == {"id", "recording", "split", "start", "end", "caption", "path", "visual", "frames"}
        assert (out / entry["path"]).is_file() and entry["frames"] == FRAMES
        assert entry["end"] == pytest.approx(entry["start"] + WINDOW)
        assert entry["caption"] == captions.get(entry["recording"], "default music")
        assert entry["visual"] == "present"  # every good clip shows the performer
    starts = sorted(e["start"] for e in manifest if e["recording"] == "rec_b.mp4")
    assert starts == [0.0, 1.0, 2.0]
    assert sorted(p.name for p in (out / "windows").iterdir()) == sorted(Path(e["path"]).name for e in manifest)


def test_split_is_by_recording_and_no_test_recording_reaches_train(built, manifest) -> None:
    config, summary = built["config"], built["summary"]
    splits: dict[str, set[str]] = {}
    for entry in manifest:
        splits.setdefault(entry["recording"], set()).add(entry["split"])
    assert all(len(s) == 1 for s in splits.values())  # all windows of a recording share one split
    by_split = {s: {r for r, ss in splits.items() if s in ss} for s in ("train", "test")}
    assert by_split["train"] and by_split["test"] and not by_split["train"] & by_split["test"]
    for recording, (split,) in splits.items():
        assert split == assign_split(recording, config.seed, config.test_fraction)
    assert summary["split"]["recordings"] == {s: sorted(r) for s, r in by_split.items()}
    assert summary["split"]["seed"] == config.seed and summary["split"]["by"] == "recording"


def test_window_files_hold_codes_and_condition_at_the_codec_rate(built, manifest) -> None:
    for entry in manifest:
        with np.load(built["out"] / entry["path"]) as data:
            codes, condition = data["codes"], data["condition"]
            assert set(data.files) == {"codes", "condition"}
        assert codes.dtype == np.int16 and codes.shape == (4, FRAMES)
        assert codes.min() >= 0 and codes.max() < 2048
        assert condition.shape == (FRAMES, FEATURE_SPEC.dim) and condition.dtype == np.float16
        assert np.isfinite(condition.astype(np.float32)).all()
        assert condition[:, FEATURE_SPEC.index("pose.present")].astype(np.float32).mean() > 0.9  # the performer
    # (The tiny model's random EnCodec maps quiet audio to one code per codebook: codes that vary
    # with the audio are checked with loud noise in test_encode_audio_gives_exactly_the_window_frames.)


def test_summary_counts_skipped_files_and_warnings(built, manifest) -> None:
    summary = built["summary"]
    counts = summary["counts"]
    assert counts["windows"] == len(manifest) == sum(GOOD.values())
    assert counts["recordings"] == len(GOOD) and counts["videos_found"] == 7
    assert counts["train_windows"] + counts["test_windows"] == counts["windows"]
    assert counts["dropped_remainders"] == 4  # a, b, c, d each end with a piece shorter than 1 s
    assert counts["feature_cache_misses"] == 4 and counts["feature_cache_hits"] == 0
    reasons = {s["file"]: s["reason"] for s in summary["skipped"]}
    assert set(reasons) == {"bad.mp4", "noaudio.mp4", "short.mp4", "orphan.wav"}
    assert "not a readable media file" in reasons["bad.mp4"]
    assert "no audio track" in reasons["noaudio.mp4"]
    assert "too short" in reasons["short.mp4"]
    assert "no video" in reasons["orphan.wav"]
    warnings = {w["file"]: w["warning"] for w in summary["warnings"]}
    assert "rec_d.flac" in warnings["rec_d.mp4"] and "1.200 s" in warnings["rec_d.mp4"]
    assert any("missing.mp4" in w for w in warnings.values())
    on_disk = json.loads((built["out"] / "dataset.json").read_text())
    assert on_disk == summary
    assert on_disk["model"] == {
        "id": "tiny",
        "untrained": True,
        "sample_rate": 32000,
        "frame_rate": 50,
        "num_codebooks": 4,
        "bandwidth": 2.2,
    }
    assert on_disk["features"]["fps"] == FPS and on_disk["features"]["spec"] == FEATURE_SPEC.name
    assert not (built["out"] / ".staging").exists()


def test_progress_reports_features_windows_and_recordings(built) -> None:
    phases = {phase for phase, _, _ in built["calls"]}
    assert {"features", "windows", "recordings"} <= phases
    assert built["calls"][-1] == ("recordings", 7, 7)


def test_feature_cache_is_reused_by_content_on_a_second_run(built, manifest, tiny, monkeypatch) -> None:
    src2, out2 = built["root"] / "src2", built["root"] / "out2"
    src2.mkdir()
    shutil.copy(built["src"] / "rec_b.mp4", src2 / "renamed.mp4")  # same bytes, another name
    calls = []
    monkeypatch.setattr(FeatureExtractor, "extract", lambda *a, **k: calls.append(a) or pytest.fail("re-extracted"))
    summary = prepare_dataset(src2, out2, tiny, dataclasses.replace(built["config"], captions=None), built["features"])
    assert not calls
    assert summary["counts"]["feature_cache_hits"] == 1 and summary["counts"]["feature_cache_misses"] == 0
    first = {e["start"]: e for e in manifest if e["recording"] == "rec_b.mp4"}
    for entry in read_manifest(out2):
        with np.load(out2 / entry["path"]) as new, np.load(built["out"] / first[entry["start"]]["path"]) as old:
            np.testing.assert_array_equal(new["condition"], old["condition"])
            np.testing.assert_array_equal(new["codes"], old["codes"])


def test_cancel_leaves_the_earlier_dataset_untouched(built, tiny) -> None:
    src3, out3 = built["root"] / "src3", built["root"] / "out3"
    src3.mkdir()
    shutil.copy(built["src"] / "rec_a.mp4", src3 / "a.mp4")
    config = dataclasses.replace(built["config"], captions=None, hop_s=2.0)  # one window
    prepare_dataset(src3, out3, tiny, config, built["features"])
    before = (out3 / "manifest.jsonl").read_text()
    token = CancelToken()

    def cancel_on_first_window(phase: str, done: int, total: int) -> None:
        if phase == "windows":
            token.cancel("test")

    with pytest.raises(Cancelled):
        prepare_dataset(src3, out3, tiny, config, built["features"], progress=cancel_on_first_window, cancel=token)
    assert (out3 / "manifest.jsonl").read_text() == before and (out3 / "dataset.json").is_file()
    assert not (out3 / ".staging").exists()


def test_no_usable_recording_is_an_error_with_a_hint(built, tiny) -> None:
    src4, out4 = built["root"] / "src4", built["root"] / "out4"
    src4.mkdir()
    shutil.copy(built["src"] / "bad.mp4", src4 / "bad.mp4")
    shutil.copy(built["src"] / "short.mp4", src4 / "short.mp4")
    with pytest.raises(DatasetError, match="no window was written") as info:
        prepare_dataset(src4, out4, tiny, built["config"], built["features"])
    assert "bad.mp4" in str(info.value) and "short.mp4" in str(info.value) and "--window" in info.value.hint
    assert not (out4 / "dataset.json").exists()


def test_a_foreign_non_empty_output_folder_is_refused(built, tiny) -> None:
    out5 = built["root"] / "out5"
    out5.mkdir()
    (out5 / "precious.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not empty"):
        prepare_dataset(built["src"], out5, tiny, built["config"], built["features"])


# ---- loading -------------------------------------------------------------------------------------


def test_window_dataset_items_and_collate(built, manifest) -> None:
    import torch
    from torch.utils.data import DataLoader, Dataset

    from generator_service.training.window_dataset import WindowDataset

    train = WindowDataset(built["out"], "train", feature_fps=FPS, model_id="tiny", num_codebooks=4)
    test = WindowDataset(built["out"], "test", feature_fps=FPS)
    assert isinstance(train, Dataset)
    assert len(train) + len(test) == len(manifest) and len(train) and len(test)
    item = train[0]
    assert item["codes"].dtype == torch.long and item["codes"].shape == (4, FRAMES)
    assert item["condition"].dtype == torch.float32 and item["condition"].shape == (FRAMES, FEATURE_SPEC.dim)
    assert set(item) == {"codes", "condition", "prompt", "id"}
    assert isinstance(item["prompt"], str) and item["id"] == train.entries[0]["id"]
    batch = next(iter(DataLoader(train, batch_size=2, collate_fn=collate)))
    assert batch["codes"].shape == (2, 4, FRAMES) and batch["condition"].shape == (2, FRAMES, FEATURE_SPEC.dim)
    assert len(batch["prompt"]) == len(batch["id"]) == 2
    assert {e["recording"] for e in train.entries}.isdisjoint({e["recording"] for e in test.entries})
    assert len(pickle.loads(pickle.dumps(train))) == len(train)  # DataLoader workers can receive it


def test_a_melody_checkpoint_dataset_keeps_each_window_s_own_chroma(built, cache_dir) -> None:
    """For tiny-melody each window also stores its own music's chroma bins (the training melody)."""
    import torch

    from generator_service.model.chroma import melody_chroma
    from generator_service.model.loading import load_music_model
    from generator_service.training.window_dataset import WindowDataset

    melody = load_music_model("tiny-melody", cache_dir=cache_dir, device="cpu")
    src, out = built["root"] / "src-melody", built["root"] / "out-melody"
    src.mkdir()
    shutil.copy(built["src"] / "rec_b.mp4", src / "rec_b.mp4")  # features from the cache
    config = dataclasses.replace(built["config"], captions=None, test_fraction=0.0)
    prepare_dataset(src, out, melody, config, built["features"])
    items = WindowDataset(out, "train", feature_fps=FPS, model_id="tiny-melody", num_codebooks=4)
    assert len(items) == 3
    audio = decode_audio(src / "rec_b.mp4", 32000).samples
    for entry, item in zip(items.entries, items):
        first = round(entry["start"] * 32000)
        expected = melody_chroma(audio[first : first + round(WINDOW * 32000)], 32000, settings=melody.chroma)
        assert item["chroma"].dtype == torch.long and item["chroma"].shape == (1 + 32000 // 4096,)
        assert torch.equal(item["chroma"], expected[0].argmax(-1))
    assert collate(list(items))["chroma"].shape == (3, 1 + 32000 // 4096)


def test_window_dataset_names_every_setting_that_differs(built) -> None:
    from generator_service.training.window_dataset import WindowDataset

    with pytest.raises(DatasetError, match=r"feature fps 5\.0 \(expected 10\)"):
        WindowDataset(built["out"], "train", feature_fps=10.0)
    other = dataclasses.replace(FEATURE_SPEC, version=2)
    with pytest.raises(DatasetError) as info:
        WindowDataset(built["out"], "train", spec=other, model_id="facebook/musicgen-small")
    message = str(info.value)
    assert "feature spec expotion-face-pose v1 (expected expotion-face-pose v2)" in message
    assert "model 'tiny' (expected 'facebook/musicgen-small')" in message
    with pytest.raises(DatasetError, match="no dataset.json"):
        WindowDataset(built["root"], "train")
    with pytest.raises(ConfigError, match="split"):
        WindowDataset(built["out"], "validation")


# ---- the command -------------------------------------------------------------------------------


def test_cli_parses_flags_and_writes_a_dataset(built, tiny, monkeypatch, capsys) -> None:
    import generator_service.model.loading as loading

    src6, out6 = built["root"] / "src6", built["root"] / "out6"
    src6.mkdir()
    shutil.copy(built["src"] / "rec_a.mp4", src6 / "a.mp4")
    (src6 / "bad.mp4").write_bytes(b"junk")
    parser = argparse.ArgumentParser()
    dataset_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "prepare-dataset",
            str(src6),
            str(out6),
            "--window",
            "1",
            "--hop",
            "0.7",
            "--model",
            "tiny",
            "--feature-fps",
            "5",
            "--test-fraction",
            "0",
            "--default-prompt",
            "lofi",
            "--quiet",
        ]
    )
    monkeypatch.setattr(loading, "load_music_model", lambda model_id, **kw: tiny if model_id == "tiny" else None)
    assert dataset_cli.run(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["counts"]["windows"] == 3  # starts 0, 0.7, 1.4 in 2.48 s
    assert printed["counts"]["test_windows"] == 0 and printed["skipped"][0]["file"] == "bad.mp4"
    assert {e["caption"] for e in read_manifest(out6)} == {"lofi"}


def test_encode_audio_gives_exactly_the_window_frames(tiny) -> None:
    from generator_service.training.codes import codec_bandwidth, encode_audio

    bandwidth = codec_bandwidth(tiny)
    noise = np.random.default_rng(0).normal(0, 10.0, size=(1, 16_001)).astype(np.float32)
    codes = encode_audio(tiny, noise, 25, bandwidth)  # the codec gives 26 frames: trimmed
    assert codes.shape == (1, 4, 25) and codes.dtype == np.int16 and len(np.unique(codes[0, 0])) > 1
    assert encode_audio(tiny, noise[:, :15_000], 25, bandwidth).shape == (1, 4, 25)  # 24: padded
    with pytest.raises(DatasetError, match="at most one off"):
        encode_audio(tiny, noise[:, :14_000], 25, bandwidth)


# ---- pure pieces ---------------------------------------------------------------------------------


def test_window_starts_drop_and_measure_the_remainder() -> None:
    assert window_starts(3.2, 1.0, 1.0, 0.02) == ([0.0, 1.0, 2.0], pytest.approx(0.2))
    assert window_starts(2.99, 1.0, 1.0, 0.02) == ([0.0, 1.0, 2.0], 0.0)  # within one codec frame
    assert window_starts(2.5, 1.0, 0.5, 0.02) == ([0.0, 0.5, 1.0, 1.5], 0.0)
    assert window_starts(0.9, 1.0, 1.0, 0.02) == ([], 0.9)
    assert frames_per_window(10.0, 50) == 500
    with pytest.raises(ConfigError, match="whole number of codec frames"):
        frames_per_window(1.01, 50)
    with pytest.raises(ConfigError, match="window"):
        DatasetConfig(window_s=0)


def test_split_is_deterministic_stable_and_near_the_fraction() -> None:
    names = [f"clips/take_{i:04d}.mp4" for i in range(2000)]
    splits = [assign_split(n, 7, 0.2) for n in names]
    assert splits == [assign_split(n, 7, 0.2) for n in names]
    assert 0.17 < splits.count("test") / len(names) < 0.23
    assert {assign_split(n, 7, 0.0) for n in names} == {"train"}
    assert splits != [assign_split(n, 8, 0.2) for n in names]


def test_window_ids_are_safe_and_unique() -> None:
    ids = {window_id("a/b.mp4", 0), window_id("a/b.mov", 0), window_id("a_b.mp4", 0), window_id("a/b.mp4", 1)}
    assert len(ids) == 4 and all("/" not in i and " " not in i for i in ids)


def test_captions_from_csv_and_jsonl(tmp_path) -> None:
    csv_file = tmp_path / "c.csv"
    csv_file.write_text('file , caption\n./x/a.mp4,  happy  \nb.mov,"sad, slow"\n')
    assert read_captions(csv_file) == {"x/a.mp4": "happy", "b.mov": "sad, slow"}
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"file": "a.mp4", "caption": "x"}\n\n{"file": "b.mp4", "caption": "y"}\n')
    assert read_captions(jsonl) == {"a.mp4": "x", "b.mp4": "y"}
    jsonl.write_text('{"file": "a.mp4"}\n')
    with pytest.raises(DatasetError, match=r"c\.jsonl:1"):
        read_captions(jsonl)
    csv_file.write_text("name,text\na,b\n")
    with pytest.raises(DatasetError, match="columns 'file' and 'caption'"):
        read_captions(csv_file)


def test_sibling_audio_is_found_by_stem_and_preference(tmp_path) -> None:
    video = tmp_path / "take [1].mp4"
    video.write_bytes(b"")
    assert sibling_audio(video) is None
    (tmp_path / "take [1].MP3").write_bytes(b"")
    (tmp_path / "take [1].flac").write_bytes(b"")
    (tmp_path / "take [1].extra.wav").write_bytes(b"")
    assert sibling_audio(video).name == "take [1].flac"


def test_decoded_audio_is_aligned_with_the_video(built) -> None:
    audio = decode_audio(built["src"] / "rec_a.mp4", 32000, origin=0.0)
    assert audio.samples.dtype == np.float32 and audio.duration == pytest.approx(2.5, abs=0.03)
    # The demo clip clicks on every bob peak, t = (k + 1/4) / bob_hz = 0.125 s, 0.625 s, ...
    onset = np.flatnonzero(np.abs(audio.samples) > 0.2)[0] / 32000
    assert onset == pytest.approx(0.125, abs=0.004)
    stereo = decode_audio(built["src"] / "sub" / "rec_c.wav", 32000)
    assert stereo.duration == pytest.approx(2.2, abs=1e-3)
    assert np.abs(stereo.samples).max() == pytest.approx(0.1, abs=0.01)  # the mean of the channels
