"""Main-thread cost of the Blender extension, in real Blender: operator calls, proxy render, timer ticks.

Targets from issue #5: < 5 ms of main-thread time per timer tick, < 100 ms per operator call
excluding the proxy render; the proxy render is reported as seconds per second of video. Ticks are
reported by the work they did: a tick that places a strip is bounded below by Blender's own
`strips.new_sound` (~15 ms in 5.0 and 5.2, whatever the file's length), shown on its own row; the
view-layer evaluation Blender runs after a timer callback is shown apart (it is not the tick's).
`expotion_blender/scripts/bench_scenario.py` runs in a bpy interpreter ($EXPOTION_BPY_PYTHON, else .venv-blender) with a
throwaway Blender user folder, installs the zip that build.py makes, and scores its strips against a
real `python -m generator_service serve --model tiny` process on a free loopback port (media root =
the clips' folder, so path mode is allowed). Needs a repository checkout (build.py).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ExpotionError
from . import table

ROOT = Path(__file__).resolve().parents[2]
#: The bpy side of the bench, run with a bpy interpreter (kept with the extension, out of its zip).
SCENARIO = Path(__file__).resolve().parents[2] / "expotion_blender" / "scripts" / "bench_scenario.py"
TICK_TARGET_MS = 5.0
CALL_TARGET_MS = 100.0
TICK_INTERVAL_S = 0.05
SERVICE_START_S = 180.0


class NoBlender(ExpotionError, FileNotFoundError):
    """No Python interpreter with the `bpy` module was found."""

    hint = (
        "`make install` creates .venv-blender (pip install bpy==5.0.1), or set EXPOTION_BPY_PYTHON "
        "to a Python that has bpy."
    )


class BenchFailed(ExpotionError, RuntimeError):
    """A stage of the Blender bench failed; the message carries its output."""


def bpy_python() -> Path:
    """$EXPOTION_BPY_PYTHON, else .venv-blender's interpreter; `NoBlender` if neither exists."""
    explicit = os.environ.get("EXPOTION_BPY_PYTHON")
    candidate = Path(explicit) if explicit else ROOT / ".venv-blender" / "bin" / "python"
    if not candidate.exists():
        raise NoBlender(f"no Python with bpy for `bench blender`: {candidate} does not exist")
    return candidate


def build_zip(out: Path) -> Path:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchFailed(f"build.py failed:\n{proc.stderr[-2000:]}")
    return Path(proc.stdout.strip())


def make_clips(folder: Path, count: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    """`count` H.264 clips of a performer at 25 fps (distinct noise seeds)."""
    from ..demo_clip import make_performer_clip

    return [
        make_performer_clip(folder / f"clip{i}.mp4", duration=seconds, fps=25, size=size, seed=i) for i in range(count)
    ]


def tiny_service(media_root: Path, work: Path):
    """A real `serve --model tiny` process on a free loopback port -> its URL; stopped on exit."""
    from ..api.launch import service_process

    return service_process("tiny", media_root, work, cwd=ROOT, timeout_s=SERVICE_START_S)


def run_scenario(python: Path, url: str, args: dict[str, Any], work: Path, timeout_s: float) -> dict[str, Any]:
    env = dict(
        os.environ,
        EXPOTION_SERVICE_URL=url,
        EXPOTION_BENCH_ARGS=json.dumps(args),
        BLENDER_USER_RESOURCES=str(work / "blender_user"),
    )
    try:
        proc = subprocess.run(
            [str(python), str(SCENARIO)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchFailed(f"the Blender scenario ran longer than {timeout_s:.0f} s") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_BLENDER ")]
    if proc.returncode != 0 or not lines:
        raise BenchFailed(f"the Blender scenario failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return json.loads(lines[-1].split(" ", 1)[1])


def _stats(values: list[float], scale: float = 1.0) -> list[object]:
    """[n, mean, p95 (nearest rank), max] of `values` x `scale`."""
    if not values:
        return [0, "-", "-", "-"]
    ordered = sorted(v * scale for v in values)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return [len(ordered), sum(ordered) / len(ordered), p95, ordered[-1]]


def _row(name: str, unit: str, values: list[float], scale: float, target: float | None) -> list[object]:
    stats = _stats(values, scale)
    verdict = "-" if target is None or not values else ("yes" if stats[3] < target else "NO")
    return [name, unit, *stats, "-" if target is None else f"< {target:g}", verdict]


def rows(result: dict[str, Any]) -> list[list[object]]:
    """Table rows from the scenario's raw seconds."""
    path, proxy, fps = result["path"], result["upload"], result["fps"]
    render_s = sum(s for s, _ in proxy["renders"])
    per_video_s = [s / (frames / fps) for s, frames in proxy["renders"]]
    ticks = path["ticks"] + proxy["ticks"]
    w, h = result["proxy_size"]

    def tick_row(name: str, work: str) -> list[object]:
        return _row(name, "ms/tick", [wall for wall, _, done in ticks if done == work], 1e3, TICK_TARGET_MS)

    slow_cpu = [cpu for wall, cpu, _ in ticks if wall * 1e3 >= TICK_TARGET_MS]

    return [
        _row("score_strips call, path mode", "ms/call", [path["call_s"]], 1e3, CALL_TARGET_MS),
        _row(
            "score_strips call, proxy mode, excl. render", "ms/call", [proxy["call_s"] - render_s], 1e3, CALL_TARGET_MS
        ),
        _row(f"proxy render {w}x{h}", "s per s of video", per_video_s, 1.0, None),
        tick_row("timer tick, nothing placed", ""),
        tick_row("timer tick that places a strip", "strip"),
        _row("of which Blender's strips.new_sound", "ms/call", path["new_sound"] + proxy["new_sound"], 1e3, None),
        tick_row("timer tick that pushes a job's undo step", "undo"),
        _row("Blender's evaluation after such ticks", "ms/tick", path["evaluations"] + proxy["evaluations"], 1e3, None),
        _row(f"CPU time of the ticks over {TICK_TARGET_MS:g} ms wall", "ms/tick", slow_cpu, 1e3, TICK_TARGET_MS),
    ]


def run(seconds: float | None = None, strips: int = 3, size: tuple[int, int] = (1280, 720)) -> str:
    """Measure in real Blender -> the table. `seconds` is the length of each of `strips` clips (default 3)."""
    seconds = seconds or 3.0
    python = bpy_python()
    with tempfile.TemporaryDirectory(prefix="expotion-bench-blender-") as tmp:
        work = Path(tmp)
        zip_path = build_zip(work / "dist")
        clips = make_clips(work, strips, seconds, size)
        args = {
            "zip": str(zip_path),
            "clips": [str(c) for c in clips],
            "tick_interval_s": TICK_INTERVAL_S,
            "timeout_s": 300.0 + 20.0 * strips * seconds,
        }
        with tiny_service(work, work) as url:
            result = run_scenario(python, url, args, work, timeout_s=2 * args["timeout_s"] + 120)
    head = (
        f"Blender {result['blender']} (Python {result['python']}, bpy in a subprocess) against a real "
        f"`generator_service serve --model tiny` on 127.0.0.1; {strips} strips x {seconds:g} s of "
        f"{size[0]}x{size[1]} {result['fps']} fps H.264; proxy at the default height {result['proxy_height']}; "
        f"timer pumped every {TICK_INTERVAL_S * 1e3:.0f} ms until all {result['path']['jobs']}+"
        f"{result['upload']['jobs']} jobs ended and were placed, the view layer evaluated after each tick "
        "as Blender's window manager does; times are wall-clock on Blender's main thread except the last "
        "row, that thread's CPU time (on a loaded machine a tick can wait for a CPU)"
    )
    return head + "\n" + table(["measure", "unit", "n", "mean", "p95", "max", "target", "met"], rows(result))
