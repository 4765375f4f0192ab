"""The GPU check (`bench/gpu.sh`): every GPU figure in one JSON object, offline, in one run.

Four parts, each timed and recorded even when another fails: the `-m gpu` tests (pytest in a
subprocess, on the test files that carry the marker), the decoder bench (`bench generate`: stock
generate() against our decoder at fp32 / bf16 / int8 where the build has it, and `takes` takes
sharing each step), `train_steps` adapter training steps at the MusicGen shape, and last the melody
bench (`bench generate --model-kind melody`: stock vs ours at musicgen-melody's shape, following a
temp; `--skip-melody` leaves it out). On a CUDA device the defaults are musicgen-small, 10 s of
audio, 4 takes, 20 steps of batch 10 x 10 s, and the melody bench at the medium shape with 4 s of
audio (elsewhere at `--size`); the CPU rehearsal passes a smaller shape. Random weights: nothing is downloaded.

Run: `python -m generator_service.bench.gpu_check --device cuda -o gpu-check.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def gpu_test_files(tests: Path = ROOT / "tests") -> list[str]:
    """The test files that carry `pytest.mark.gpu` (collecting only them keeps the imports small)."""
    return sorted(str(p) for p in tests.rglob("test_*.py") if "mark.gpu" in p.read_text())


def run_gpu_tests(timeout_s: float) -> dict[str, Any]:
    """pytest -m gpu in a subprocess -> counts from its JUnit XML, the exit code, the tail of its output."""
    import tempfile

    files = gpu_test_files()
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", f"--junitxml={xml}"]
        try:
            done = subprocess.run(cmd + files, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"files": files, "exit_code": None, "error": f"timed out after {timeout_s:g} s"}
        counts: dict[str, Any] = {}
        if xml.exists():
            suite = ET.parse(xml).getroot()
            suite = suite if suite.tag == "testsuite" else suite[0]
            counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return {"files": files, "exit_code": done.returncode, **counts, "tail": done.stdout[-2000:]}


def run_decoder_bench(
    device: str, size: str, seconds: float, repeats: int, takes: int, model_kind: str = "mono"
) -> dict[str, Any]:
    """`bench generate`'s rows (of `model_kind`) at every precision the build supports (unsupported
    ones under "skipped")."""
    from ..config import PRECISIONS
    from .generate import measure

    return measure(size, seconds, device, repeats, PRECISIONS, takes, model_kind)


def run_training(device: str, size: str, steps: int, batch: int, window_s: float) -> dict[str, Any]:
    """`steps` adapter training steps (after one warm-up) at the MusicGen shape -> rate and peak memory."""
    from .adapter import train_steps_per_second

    rate, peak = train_steps_per_second(size, device, batch=batch, window_s=window_s, steps=steps)
    return {
        "size": size,
        "steps": steps,
        "batch": batch,
        "window_s": window_s,
        "steps_per_s": round(rate, 3),
        "peak_gpu_gib": None if peak is None else round(peak, 2),
    }


def _part(result: dict[str, Any], name: str, fn, *args) -> None:
    start = time.perf_counter()
    try:
        result[name] = fn(*args)
    except Exception as exc:  # noqa: BLE001 - one part failing must not lose the others' figures
        result[name] = {"error": f"{type(exc).__name__}: {exc}"}
    result[name]["wall_s"] = round(time.perf_counter() - start, 1)


def environment(device: str) -> dict[str, Any]:
    import torch

    from .generate import describe_device

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": describe_device(device),
        "platform": platform.platform(),
    }


def check(args: argparse.Namespace) -> dict[str, Any]:
    """The parts in turn; the JSON is rewritten after each, so a timeout keeps the finished ones."""
    start = time.perf_counter()
    result: dict[str, Any] = {"environment": environment(args.device)}
    parts: list[tuple[str, Any, tuple[Any, ...]]] = [
        ("decoder_bench", run_decoder_bench, (args.device, args.size, args.seconds, args.repeats, args.takes)),
        ("training", run_training, (args.device, args.size, args.train_steps, args.batch, args.window)),
    ]
    if not args.skip_melody:  # last: the biggest model, so a timeout keeps the other figures
        melody_size = args.melody_size or ("medium" if args.device.startswith("cuda") else args.size)
        melody = (args.device, melody_size, args.melody_seconds, args.repeats, 1, "melody")
        parts.append(("melody_bench", run_decoder_bench, melody))
    if not args.skip_tests:
        parts.insert(0, ("gpu_tests", run_gpu_tests, (args.tests_timeout,)))
    for name, fn, fn_args in parts:
        _part(result, name, fn, *fn_args)
        result["total_wall_s"] = round(time.perf_counter() - start, 1)
        args.out.write_text(json.dumps(result, indent=2))
    result["ok"] = all("error" not in part for part in result.values() if isinstance(part, dict)) and (
        args.skip_tests or result["gpu_tests"].get("exit_code") in (0, 5)  # 5: no test collected (no marker)
    )
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--size", default="small", choices=["tiny", "small", "medium", "large"])
    p.add_argument("--seconds", type=float, default=10.0, help="audio per decoder-bench run")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--takes", type=int, default=4)
    p.add_argument("--train-steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--window", type=float, default=10.0, help="training window, seconds")
    p.add_argument("--tests-timeout", type=float, default=180.0)
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument(
        "--melody-size",
        default=None,
        choices=["tiny", "small", "medium", "large"],
        help="melody-bench shape (default: medium, musicgen-melody's, on CUDA; --size elsewhere)",
    )
    p.add_argument("--melody-seconds", type=float, default=4.0, help="audio per melody-bench run")
    p.add_argument("--skip-melody", action="store_true", help="leave out the melody bench")
    p.add_argument("-o", "--out", type=Path, required=True, help="the JSON file to write")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from ..cli_errors import report
    from ..console import note, say
    from ..errors import ConfigError
    from ..model.loading import pick_device

    try:
        pick_device(args.device)  # a named device that is absent: exit 2 before anything runs
    except ConfigError as exc:
        report(exc)
        return 2
    result = check(args)
    args.out.write_text(json.dumps(result, indent=2))
    say(json.dumps({k: v for k, v in result.items() if k != "gpu_tests"}, indent=2))
    note(f"wrote {args.out} ({'ok' if result['ok'] else 'NOT ok'}, {result['total_wall_s']} s)")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
