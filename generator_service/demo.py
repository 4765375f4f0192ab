"""The demo (README's first command): a real photo of a person moving to a beat -> analyze -> score
-> WAV + MP4 with the music muxed in; then the same clip scored in real Blender (headless) through the
extension and a real service process, saved as a .blend, plus a mixdown of the timeline.

It uses the real default model when its weights are in the local Hugging Face cache; otherwise it
says so plainly and runs the built-in tiny model, whose output is labelled untrained (not music).
Run: `expotion demo` (or `python -m generator_service.demo --out demo_out`, as `make demo` does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import DEFAULT_MODEL, FeatureConfig, GenerationConfig
from .console import note, say


def choose_model(requested: str | None) -> tuple[str, str]:
    """-> (model id, a sentence saying why)."""
    from .model.loading import LICENCE_NOTE, hub_weights_cached, resolve_model_id
    from .model.tiny import TINY

    model_id = resolve_model_id(requested)
    if model_id == TINY or Path(model_id).is_dir():
        return model_id, f"using model {model_id!r} as asked"
    if hub_weights_cached(model_id):
        return model_id, f"using {model_id} from the local Hugging Face cache. {LICENCE_NOTE}"
    return TINY, (
        f"the weights of {model_id} are not in the local Hugging Face cache and this demo does not "
        "download them, so it runs the built-in UNTRAINED tiny model instead: the pipeline is real, "
        "the sound is not music. To hear music: download the model once on a machine with network "
        f"(`huggingface-cli download {DEFAULT_MODEL}`), then run the demo again."
    )


def _say(text: str) -> None:
    say(f"[demo] {text}")


def run(out: Path, seconds: float, model: str | None, prompt: str, seed: int) -> dict[str, str]:
    from .audio import mux_audio, write_wav
    from .demo_clip import make_performer_clip
    from .model.loading import load_music_model
    from .pipeline.score import Scorer, ScoreRequest
    from .progress_bar import BarProgress

    model_id, why = choose_model(model)  # a model that cannot load stops the demo before any work
    _say(why)
    scorer = Scorer(load_music_model(model_id), FeatureConfig())
    out.mkdir(parents=True, exist_ok=True)
    clip = make_performer_clip(out / "demo_clip.mp4", duration=seconds, fps=25, size=(1280, 720), bob_hz=2.0)
    _say(f"made {clip}: a real photo (skimage astronaut) bobbing at 2 Hz (120 BPM), {seconds:g} s, 720p 25 fps")
    request = ScoreRequest(clip, generation=GenerationConfig(prompt=prompt, seed=seed), auto_prompt=True)
    bar = BarProgress()
    try:
        result = scorer(request, progress=bar)
    finally:
        bar.close()
    analysis = result.analysis or {}
    (out / "analysis.json").write_text(json.dumps(analysis, indent=2))
    motion = analysis.get("motion", {})
    _say(
        f"analysis: tempo {motion.get('tempo_bpm')} BPM (confidence {motion.get('tempo_confidence')}), "
        f"face coverage {analysis.get('face', {}).get('coverage')}, suggested prompt: "
        f"{analysis.get('suggested_prompt')!r}"
    )
    _say(f"prompt used: {result.prompt_used!r}")
    wav = write_wav(out / "demo_music.wav", result.takes[0], result.sample_rate)
    (out / "demo_music.json").write_text(json.dumps(result.metadata(), indent=2))
    video = mux_audio(clip, wav, out / "demo_scored.mp4")
    label = " (UNTRAINED tiny model: not music)" if result.untrained else ""
    _say(f"music{label}: {wav} — {result.num_samples} samples = exactly {result.duration_s:.3f} s at 32 kHz")
    _say(f"video with the music: {video}")
    return {"clip": str(clip), "wav": str(wav), "video": str(video), "model": model_id}


def run_blender(out: Path, clip: Path, model_id: str, blender_python: Path) -> dict | None:
    """Score the clip in real Blender through the extension and a real service process."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if not blender_python.exists():
        _say(
            f"skipping the Blender stage: {blender_python} not found (`make install` creates it; without make, see docs/install.md)"
        )
        return None
    build = subprocess.run([sys.executable, str(root / "build.py")], cwd=root, capture_output=True, text=True)
    if build.returncode != 0:
        raise RuntimeError(f"building the extension failed:\n{build.stderr[-2000:]}")
    zip_path = sorted((root / "dist").glob("expotion-*.zip"))[-1]
    _say(f"built {zip_path} (validated by Blender's own validator)")
    from .api.launch import service_process

    with service_process(model_id, out.resolve(), out, cwd=root) as url:
        _say(f"service running at {url}; scoring in Blender (headless, through the extension)")
        env = dict(os.environ, EXPOTION_SERVICE_URL=url, BLENDER_USER_RESOURCES=str(out / "blender_user"))
        proc = subprocess.run(
            [
                str(blender_python),
                str(root / "expotion_blender" / "scripts" / "demo_scene.py"),
                str(zip_path),
                str(clip.resolve()),
                str(out.resolve()),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("DEMO_BLENDER ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the Blender stage failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    report = json.loads(lines[-1].split(" ", 1)[1])
    _say(
        f"Blender: sound strip at frames {report['sound']} on channel {report['channel']} for the movie "
        f"at {report['movie']}, {report['samples']} samples; saved {report['blend']}"
    )
    _say(f"timeline mixdown: {report['mixdown']}")
    return report


def venv_python(venv: str, windows: bool | None = None) -> Path:
    """The Python of virtual environment `venv`: `Scripts\\python.exe` on Windows (`windows`, default:
    this machine's), `bin/python` elsewhere."""
    windows = os.name == "nt" if windows is None else windows
    return Path(venv, "Scripts", "python.exe") if windows else Path(venv, "bin", "python")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options: on its own parser and on `expotion demo` (cli.py), one definition."""
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="folder for everything it writes")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the demo clip (default 8)")
    parser.add_argument("--model", default=None, help="default: facebook/musicgen-small if cached, else tiny")
    parser.add_argument("--prompt", default="playful electronic groove with drums")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--blender-python",
        type=Path,
        default=venv_python(".venv-blender"),
        help="a Python with bpy for the Blender stage (default .venv-blender's)",
    )
    parser.add_argument("--no-blender", action="store_true", help="stop after the command-line stage")
    # SUPPRESS: under `expotion demo` an unset -v leaves `expotion -v demo`'s value alone
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the libraries' own log lines and warnings",
    )


def run_args(args: argparse.Namespace) -> int:
    """Run the demo for parsed `add_arguments` options -> exit status (2: error + hint, 1: a stage failed)."""
    from .cli_errors import report
    from .errors import ExpotionError

    try:
        paths = run(args.out, args.seconds, args.model, args.prompt, args.seed)
        if not args.no_blender:
            run_blender(args.out, Path(paths["clip"]), paths["model"], args.blender_python)
    except ExpotionError as exc:
        report(exc)
        return 2
    except RuntimeError as exc:
        note(f"error: {exc}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator_service.demo", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if __name__ == "__main__":
        from .quiet import quiet_process

        quiet_process(getattr(args, "verbose", False))
    return run_args(args)


if __name__ == "__main__":
    sys.exit(main())
