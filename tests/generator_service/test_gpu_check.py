"""The offline GPU check: its one JSON (from a tiny CPU rehearsal), its wheel list, and that gpu.sh installs
only from the wheels carried beside it (never from an index)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from generator_service.bench import gpu_check, gpu_wheels

ROOT = Path(__file__).resolve().parents[2]
GPU_SH = ROOT / "generator_service" / "bench" / "gpu.sh"


def test_tiny_cpu_rehearsal_writes_one_json_with_every_part(tiny, tmp_path: Path, capsys) -> None:
    out = tmp_path / "gpu-check.json"
    args = ["--device", "cpu", "--size", "tiny", "--seconds", "0.3", "--repeats", "1", "--takes", "2"]
    args += ["--train-steps", "2", "--batch", "1", "--window", "0.5", "--skip-tests", "-o", str(out)]
    args += ["--melody-seconds", "0.3"]  # at --size off CUDA
    assert gpu_check.main(args) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"environment", "decoder_bench", "training", "melody_bench", "total_wall_s", "ok"}
    assert result["ok"] is True
    assert result["environment"]["device"].startswith("cpu") and result["environment"]["python"]
    rows = {(r["method"], r["precision"]) for r in result["decoder_bench"]["rows"]}
    assert {("expotion decoder", p) for p in ("fp32", "bf16", "int8")} <= rows
    assert ("expotion decoder, 2 takes", "int8") in rows
    assert result["training"]["steps"] == 2 and result["training"]["steps_per_s"] > 0
    assert all(result[part]["wall_s"] >= 0 for part in ("decoder_bench", "training", "melody_bench"))
    melody = result["melody_bench"]
    assert melody["model_kind"] == "melody" and melody["size"] == "tiny" and melody["chroma_ms_per_audio_s"] > 0
    assert {("transformers generate()", "fp32"), ("expotion decoder", "int8")} <= {
        (r["method"], r["precision"]) for r in melody["rows"]
    }


def test_cuda_asked_for_but_absent_is_exit_2_with_a_hint(tmp_path: Path, capsys, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--device", "cuda", "-o", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "sees no CUDA device" in err and "hint:" in err
    assert not (tmp_path / "x.json").exists()


def test_the_gpu_test_files_are_the_ones_marked_gpu() -> None:
    files = gpu_check.gpu_test_files()
    assert any(f.endswith("test_cuda_graph.py") for f in files)
    assert all("mark.gpu" in Path(f).read_text() for f in files)


def test_wheel_list_for_python_312_has_the_model_stack_hashed_and_no_torch() -> None:
    chosen = gpu_wheels.needed(gpu_wheels.parse_lock((ROOT / "requirements.lock").read_text()), "3.12")
    names = {e.name for e in chosen}
    assert {"transformers", "peft", "tokenizers", "safetensors", "numpy", "pytest", "setuptools"} <= names
    assert not {n for n in names if gpu_wheels.MACHINE_OWN.match(n)}
    assert not names & {"fastapi", "mediapipe", "av", "ray"}  # what the check does not import stays behind
    assert all(e.hashes for e in chosen)


def test_every_pip_install_in_gpu_sh_is_offline() -> None:
    script = GPU_SH.read_text()
    code = "\n".join(line.split("#", 1)[0] for line in script.splitlines())
    assert not re.search(r"\b(curl|wget|uv)\b|--index-url|--extra-index-url", code)
    installs = [m.start() for m in re.finditer(r"\binstall\b", code)]
    assert len(installs) == 1  # the one pip_offline command, used for the wheels and for the project
    offline = code[code.index("pip_offline=(") : code.index(")", code.index("pip_offline=("))]
    assert "--no-index" in offline and "--isolated" in offline and "PIP_CONFIG_FILE=/dev/null" in offline


def test_gpu_sh_fails_rather_than_download_a_wheel_it_was_not_given(tmp_path: Path) -> None:
    """iniconfig is on PyPI: an online pip would fetch it; gpu.sh must stop at the missing wheel."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    lock = (ROOT / "requirements.lock").read_text()
    entry = next(e for e in gpu_wheels.parse_lock(lock) if e.name == "iniconfig")
    (wheels / "requirements.txt").write_text(gpu_wheels.requirements([entry]))
    env = {**os.environ, "PYTHON": sys.executable, "GPU_WHEELS": str(wheels), "EXPOTION_GPU_VENV": str(tmp_path / "v")}
    env["PIP_INDEX_URL"] = "https://pypi.org/simple"  # ignored by gpu.sh's --isolated pip
    done = subprocess.run(["bash", str(GPU_SH), "--setup-only"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done.stderr
    assert "No matching distribution found for iniconfig" in done.stderr, done.stderr[-2000:]
    assert not list((tmp_path / "v").glob("lib/python3*/site-packages/iniconfig"))
