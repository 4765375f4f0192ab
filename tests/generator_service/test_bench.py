"""The benchmarks run and print their tables (figures are reported from real runs, not asserted)."""

from __future__ import annotations

import json

from generator_service.bench import adapter, features, generate


def test_generate_bench_prints_one_json_object_with_every_row(tiny, capsys) -> None:
    from generator_service.cli import main

    assert (
        main(["bench", "generate", "--size", "tiny", "--seconds", "0.3", "--repeats", "1", "--device", "cpu", "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)  # one JSON object, nothing else on stdout
    assert result["device"].startswith("cpu") and result["threads"] >= 1
    rows = {(r["method"], r["precision"]): r for r in result["rows"]}
    assert list(rows) == [
        ("transformers generate()", "fp32"),
        ("expotion decoder", "fp32"),
        ("expotion decoder", "bf16"),
        ("expotion decoder", "int8"),
    ]
    for row in rows.values():
        assert set(row) == {
            "method",
            "precision",
            "s_per_audio_s",
            "speedup_vs_stock",
            "argmax_agreement",
            "peak_rss_mb",
            "pack_s",
        }
        assert row["s_per_audio_s"] > 0 and row["speedup_vs_stock"] > 0 and row["peak_rss_mb"] > 0
        assert 0 <= row["argmax_agreement"] <= 1
    assert rows[("transformers generate()", "fp32")]["speedup_vs_stock"] == 1.0
    assert rows[("expotion decoder", "fp32")]["argmax_agreement"] == 1.0
    assert rows[("transformers generate()", "fp32")]["argmax_agreement"] > 0.99  # our fp32 = transformers'
    assert rows[("transformers generate()", "fp32")]["pack_s"] is None  # generate() packs nothing
    assert all(rows[("expotion decoder", p)]["pack_s"] >= 0 for p in ("fp32", "bf16", "int8"))


def test_generate_bench_table_names_the_rows(tiny) -> None:
    out = generate.run(seconds=0.3, size="tiny", device="cpu", repeats=1, precision="int8")
    methods = [line.split()[-6] for line in out.splitlines()[3:]]
    assert out.splitlines()[1].split() == [
        "method",
        "precision",
        "s",
        "per",
        "s",
        "audio",
        "speed-up",
        "argmax",
        "agreement",
        "peak",
        "RSS",
        "MiB",
        "pack",
        "s",
    ]
    assert methods == ["fp32", "fp32", "int8"]  # generate(), then ours at fp32 (the reference) and int8


def test_generate_bench_times_the_melody_architecture_against_its_stock_generate(tiny, capsys) -> None:
    """`--model-kind melody`: MusicgenMelodyForConditionalGeneration.generate() with the temp's chroma
    as input_features vs our decoder with the prefix, and the chroma extraction alone."""
    from generator_service.cli import main

    args = ["bench", "generate", "--model-kind", "melody", "--size", "tiny", "--seconds", "0.3", "--repeats", "1"]
    assert main([*args, "--device", "cpu", "--precision", "int8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_kind"] == "melody" and result["size"] == "tiny"
    rows = {(r["method"], r["precision"]): r for r in result["rows"]}
    assert list(rows) == [
        ("transformers generate()", "fp32"),
        ("expotion decoder", "fp32"),
        ("expotion decoder", "int8"),
    ]
    assert rows[("transformers generate()", "fp32")]["argmax_agreement"] > 0.99  # on the same chroma + text prefix
    assert 0 < rows[("expotion decoder", "int8")]["argmax_agreement"] <= 1
    assert result["chroma_ms_per_audio_s"] > 0
    table = generate.run(seconds=0.3, size="tiny", device="cpu", repeats=1, precision="bf16", model_kind="melody")
    assert "melody architecture at tiny size (chroma + text prefix)" in table.splitlines()[0]
    assert "chroma extraction (model/chroma.py, inside both rows)" in table.splitlines()[-1]


def test_the_melody_bench_temp_is_a_melody_and_its_default_shape_is_musicgen_melody() -> None:
    from generator_service.model.chroma import melody_chroma

    bins = melody_chroma(generate.reference_temp(2.0), generate.SAMPLE_RATE)[0].argmax(1)
    assert set(bins.tolist()) == {0, 4, 7, 11}  # C E G B: the arpeggio's notes, each heard
    assert generate.DEFAULT_SIZE == {"mono": "small", "melody": "medium"}  # facebook/musicgen-melody's decoder
    assert generate.MELODY_NAMES["medium"] == "musicgen-melody"


def test_features_bench_reports_real_time_multiples() -> None:
    out = features.run(seconds=1.0)
    assert "decode + face + pose (MediaPipe)" in out and "x real time" in out


def test_adapter_bench_times_both_variants_at_tiny_shape(tiny) -> None:
    rows = adapter.overhead_rows("tiny", 0.3, "cpu", repeats=1)
    assert [r[0] for r in rows] == ["base model", "with adapter"]
    assert all(r[1] == 18 and r[2] > 0 for r in rows)  # 15 frames + 3 delay steps, measured ms per step


def test_training_throughput_runs_real_steps_at_tiny_shape(tiny) -> None:
    rate, peak = adapter.train_steps_per_second("tiny", "cpu", batch=2, window_s=0.5, steps=2)
    assert rate > 0 and peak is None


def test_load_bench_prints_latencies_of_submits_and_polls(tiny, capsys) -> None:
    from generator_service.cli import main

    assert main(["bench", "load", "--seconds", "0.3", "--jobs", "3", "--pollers", "2"]) == 0
    out = capsys.readouterr().out
    assert "jobs succeeded 3 of 3" in out, out
    rows = {
        line.split(",")[0].strip(): line.split()
        for line in out.splitlines()
        if line.lstrip().startswith(("POST", "GET"))
    }
    assert set(rows) == {"POST /v1/jobs", "GET /v1/jobs/{id}"}, out
    for cells in rows.values():
        p50, p99, requests, errors = float(cells[-5]), float(cells[-4]), int(cells[-2]), int(cells[-1])
        assert 0 < p50 <= p99 and requests > 0 and errors == 0, out
    assert int(rows["POST /v1/jobs"][-2]) == 3
