"""Command line of Expotion: `expotion <command>` or `python -m generator_service <command>`.

Commands: demo, score, analyze, serve, download, prepare-dataset, train, evaluate, bench.

Errors the user can fix are printed as `error: ...` and `hint: ...` with exit status 2; a cancelled
run (Ctrl-C) exits 130 and leaves earlier outputs untouched.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, demo
from .api.settings import ServiceSettings
from .cli_errors import report
from .cli_flags import add_param_flags, add_settings_flags, params_from_args, settings_from_args
from .config import PRECISIONS, FeatureConfig, GenerationConfig
from .errors import Cancelled, ConfigError, ExpotionError
from .evaluation import evaluate_cli
from .model import download_cli
from .progress_bar import BarProgress
from .training import dataset_cli, train_cli

logger = logging.getLogger(__name__)


#: `serve` settings whose flags are shared with other commands (`_add_model`: --model, --device,
#: --precision, --offline for allow_network).
SERVE_FLAGS_ELSEWHERE = ("model", "device", "precision", "allow_network")


def _add_range(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=float, default=None, help="start of the range, seconds (default 0)")
    p.add_argument("--end", type=float, default=None, help="end of the range, seconds (default: end of clip)")


def _add_features(p: argparse.ArgumentParser) -> None:
    p.add_argument("--feature-fps", type=float, default=10.0, help="face/pose sampling rate (default 10)")
    p.add_argument(
        "--allow-download",
        action="store_true",
        help="allow downloading missing MediaPipe model files from Google's official URL",
    )


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        help="hub id, local directory, or 'tiny' (untrained test model); default "
        "$EXPOTION_MODEL or facebook/musicgen-small (weights CC-BY-NC 4.0)",
    )
    p.add_argument(
        "--device",
        default=None,
        help="torch device: cuda, mps (fp32/bf16) or cpu (default: cuda, then mps, then cpu, as available)",
    )
    p.add_argument("--offline", action="store_true", help="never contact the model hub")
    p.add_argument(
        "--precision",
        default=None,
        choices=PRECISIONS,
        help="decoder precision (default auto, for serve $EXPOTION_PRECISION or auto: the fastest that "
        "passes the parity checks: int8 on CPUs with bf16 instructions when the weights pass int8's "
        "check, else bf16; bf16 on CUDA; fp32 elsewhere); int8 = weight-only int8, rounded once per "
        "set of weights and cached",
    )


def _add_ray(p: argparse.ArgumentParser) -> None:
    from .scale.settings import ScaleSettings

    g = p.add_argument_group("Ray Serve (pip install expotion[ray]; env EXPOTION_RAY_*)")
    g.add_argument("--ray", action="store_true", help="run on Ray Serve: the same API, jobs run by generator replicas")
    p.set_defaults(ray_dests=add_settings_flags(g, ScaleSettings, names={"address": "--ray-address"}))
    g.add_argument(
        "--write-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="write a Serve config (YAML) for `serve run`/`serve deploy` with these settings and exit",
    )


def build_parser() -> argparse.ArgumentParser:
    prog = "expotion" if Path(sys.argv[0]).name == "expotion" else "python -m generator_service"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"expotion {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, and the libraries' own log lines and warnings"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo_cmd = sub.add_parser(
        "demo", help="the README's demo: a clip scored on the command line, then in headless Blender (demo_out/)"
    )
    demo.add_arguments(demo_cmd)  # the options of `python -m generator_service.demo`, which `make demo` runs

    score = sub.add_parser("score", help="write music for a video (exactly the clip's length)")
    score.add_argument("video", type=Path)
    score.add_argument("-o", "--output", type=Path, required=True, help="output WAV (take i>0: NAME-take{i}.wav)")
    add_param_flags(score)  # the job parameters: the same rules as the HTTP API (expotion_protocol.params)
    score.add_argument("--window", type=float, default=None, help="generation window, seconds (default: model max)")
    score.add_argument(
        "--adapter",
        type=Path,
        default=None,
        help="Expotion adapter directory (from `train`): the music follows the performer",
    )
    score.add_argument(
        "--melody",
        type=Path,
        default=None,
        metavar="TEMP",
        help="a temp track (WAV, FLAC, OGG, MP3, AIFF; any rate/channels) whose melody the music follows; "
        "melody models only (tiny-melody, facebook/musicgen-melody, facebook/musicgen-stereo-melody, ...)",
    )
    score.add_argument(
        "--melody-start",
        type=float,
        default=None,
        metavar="S",
        help="seconds into the temp that play at the range's start (default 0); a shorter temp loops",
    )
    score.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_model(score)
    _add_features(score)

    analyze = sub.add_parser("analyze", help="print the visual feature summary and a suggested prompt (JSON)")
    analyze.add_argument("video", type=Path)
    analyze.add_argument("--quiet", action="store_true")
    _add_range(analyze)
    _add_features(analyze)

    serve = sub.add_parser("serve", help="run the HTTP service (127.0.0.1:8765 by default; env EXPOTION_*)")
    serve.set_defaults(settings_dests=add_settings_flags(serve, ServiceSettings, skip=SERVE_FLAGS_ELSEWHERE))
    _add_model(serve)
    _add_ray(serve)

    bench = sub.add_parser("bench", help="measure speed (prints a table)")
    bench.add_argument(
        "what",
        choices=["features", "generate", "adapter", "service", "load", "blender", "ray", "beatlock", "chroma"],
    )
    bench.add_argument("--seconds", type=float, default=None, help="clip / audio length to measure")
    bench.add_argument("--device", default=None)
    bench.add_argument(
        "--size",
        default=None,
        choices=["tiny", "small", "medium", "large"],
        help="MusicGen shape for `bench generate` / `bench adapter` (random weights; default small, "
        "and medium for `--model-kind melody`: musicgen-melody's shape)",
    )
    bench.add_argument(
        "--model-kind",
        default="mono",
        choices=["mono", "melody"],
        help="`bench generate`: the text-conditioned checkpoints' architecture (mono), or the melody "
        "checkpoints' (chroma + text prefix, following a synthesised temp)",
    )
    bench.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="`bench generate` / `bench adapter` / `bench ray`: interleaved runs per variant (the minimum is shown)",
    )
    bench.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="`bench ray`: jobs submitted at once per replica count (default 8); `bench load`: submits at once "
        "(default 30)",
    )
    bench.add_argument("--pollers", type=int, default=8, help="`bench load`: concurrent status pollers")
    bench.add_argument("--json", action="store_true", help="`bench generate`: print one JSON object, not a table")
    bench.add_argument(
        "--takes", type=int, default=1, help="`bench generate`: also time this many takes of one job sharing each step"
    )
    bench.add_argument(
        "--precision",
        default=None,
        choices=PRECISIONS,
        help="`bench generate`: time our decoder at fp32 and this precision only (default: fp32, "
        "bf16, int8); `bench adapter`: the precision to time (default auto)",
    )
    dataset_cli.add_parser(sub)
    train_cli.add_parser(sub)
    evaluate_cli.add_parser(sub)
    add_sync_parser(sub)
    download_cli.add_parser(sub)
    return parser


def _feature_config(args: argparse.Namespace) -> FeatureConfig:
    return FeatureConfig(feature_fps=args.feature_fps, allow_download=args.allow_download)


def take_path(output: Path, take: int) -> Path:
    """Where take `take` is written: the output itself for take 0, `NAME-take{i}.wav` after."""
    return output if take == 0 else output.with_name(f"{output.stem}-take{take}{output.suffix or '.wav'}")


def cmd_score(args: argparse.Namespace) -> int:
    from .audio import OutputError, write_wav
    from .model.loading import load_music_model
    from .pipeline.melody_input import MelodyRequest
    from .pipeline.score import Scorer, ScoreRequest, check_inputs

    if not args.output.parent.is_dir():
        raise OutputError(f"output folder {args.output.parent} does not exist")
    if args.melody is None and args.melody_start is not None:
        raise ConfigError(
            "--melody-start: only with --melody", hint="Add --melody TEMP.wav, or leave out --melody-start."
        )
    params = params_from_args(args, adapter=None if args.adapter is None else args.adapter.name)
    gen = GenerationConfig.from_params(params, window_s=args.window)
    melody = None if args.melody is None else MelodyRequest(args.melody, args.melody_start or 0.0)
    request = ScoreRequest.from_params(args.video, params, gen, melody)
    check_inputs(request)  # bad input fails before the model loads
    music = load_music_model(
        args.model, device=args.device, allow_network=not args.offline, precision=args.precision or "auto"
    )
    adapter = None
    if args.adapter is not None:
        from .model.adapter_files import load_adapter

        adapter = load_adapter(args.adapter, music)
    scorer = Scorer(music, _feature_config(args), adapter=adapter)
    bar = BarProgress(enabled=not args.quiet)
    try:
        result = scorer(request, progress=bar)
    finally:
        bar.close()
    written = [write_wav(take_path(args.output, i), take, result.sample_rate) for i, take in enumerate(result.takes)]
    meta = result.metadata() | {"files": [str(p) for p in written], "video": str(args.video)}
    args.output.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    if result.untrained:
        print("NOTE: made with the UNTRAINED tiny test model: this is not music.", file=sys.stderr)
    if result.melody is not None:
        verdict = "follows" if result.melody["follows"] else "does NOT follow"
        print(f"melody: the music {verdict} the temp (measured; see 'melody' in the JSON)", file=sys.stderr)
    for path in written:
        print(path)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from .pipeline.analysis import analyze_track
    from .pipeline.feature_reader import FeatureReader
    from .pipeline.video import probe_video, resolve_range

    start, end = resolve_range(probe_video(args.video), args.start, args.end)
    bar = BarProgress(enabled=not args.quiet)
    try:
        with FeatureReader(_feature_config(args)) as reader:
            track = reader.read(args.video, start, end, progress=bar)
    finally:
        bar.close()
    report = {"video": str(args.video), "start": start, "end": end} | analyze_track(track)
    print(json.dumps(report, indent=2))
    return 0


def add_sync_parser(sub: Any) -> None:
    """`sync VIDEO MUSIC -o OUT.wav`: fit any music to the performer (beat lock)."""
    p = sub.add_parser("sync", help="fit a music file to the performer's beats, cuts and markers (time-stretch)")
    p.add_argument("video", type=Path)
    p.add_argument("music", type=Path, help="WAV, FLAC, OGG, MP3 or AIFF; OUT.wav keeps its rate and channels")
    p.add_argument("-o", "--output", type=Path, required=True, help="output WAV (OUT.json beside it)")
    p.add_argument(
        "--hits",
        type=Path,
        default=None,
        help='JSON [{"t": s, "kind": "cut"|"marker", "strength": 0..1}], t on the video\'s clock',
    )
    p.add_argument("--max-stretch", type=float, default=None, help="bound of the local stretch (default 0.08 = +-8 %%)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_range(p)
    _add_features(p)


def cmd_sync(args: argparse.Namespace) -> int:
    from .sync import SyncRequest, sync_files

    bound = {} if args.max_stretch is None else {"max_stretch": args.max_stretch}
    request = SyncRequest(args.video, args.music, args.output, args.start, args.end, args.hits, **bound)
    bar = BarProgress(enabled=not args.quiet)
    try:
        meta = sync_files(request, _feature_config(args), progress=bar)
    finally:
        bar.close()
    print(f"{args.output}: {'locked' if meta['locked'] else 'NOT locked'} ({meta['reason']})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from .api.app import serve

    flags = settings_from_args(args, args.settings_dests)
    flags |= {
        name: value
        for name, value in (("model", args.model), ("device", args.device), ("precision", args.precision))
        if value is not None
    }
    if args.offline:
        flags["allow_network"] = False
    try:
        settings = ServiceSettings(**flags)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"serve settings: {problems}") from exc
    ray_dests = args.ray_dests
    ray_flags = settings_from_args(args, ray_dests)
    if not (args.ray or args.write_config) and ray_flags:
        given = ", ".join(f"--{dest.replace('_', '-')}" for dest, field in ray_dests.items() if field in ray_flags)
        raise ConfigError(f"{given}: only with --ray", "Add --ray to run the service on Ray Serve.")
    if settings.model == "tiny":
        print("NOTE: serving the UNTRAINED tiny test model: its output is not music.", file=sys.stderr)
    if args.ray or args.write_config:
        return _serve_on_ray(settings, ray_flags, args.write_config)
    serve(settings)
    return 0


def _serve_on_ray(settings: Any, ray_flags: dict[str, Any], write_config: Path | None) -> int:
    from .scale.settings import require_ray, scale_settings

    require_ray()
    scale = scale_settings(**ray_flags)
    if write_config is not None:
        import yaml

        from .scale.app import serve_config

        write_config.write_text(yaml.safe_dump(serve_config(settings, scale), sort_keys=False))
        print(f"wrote {write_config}: run it with `serve run {write_config}` or `serve deploy {write_config}`")
        return 0
    from .scale.launch import serve_on_ray

    serve_on_ray(settings, scale)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "features":
        from .bench.features import run as run_features

        print(run_features(seconds=args.seconds))
    elif args.what == "adapter":
        from .bench.adapter import run as run_adapter

        print(
            run_adapter(
                seconds=args.seconds,
                device=args.device,
                size=args.size or "small",
                repeats=args.repeats,
                precision=args.precision or "auto",
            )
        )
    elif args.what == "beatlock":
        from .bench import beatlock

        print(beatlock.run(seconds=args.seconds), beatlock.run_cost(), beatlock.run_real_music(), sep="\n\n")
    elif args.what == "chroma":
        from .bench.chroma import run as run_chroma

        print(run_chroma(seconds=args.seconds))
    elif args.what == "blender":
        from .bench.blender import run as run_blender

        print(run_blender(seconds=args.seconds))
    elif args.what == "ray":
        from .bench.ray import run as run_ray
        from .scale.settings import require_ray

        require_ray()
        print(run_ray(seconds=args.seconds, jobs=args.jobs or 8, repeats=args.repeats))
    elif args.what == "load":
        from .bench.load import run as run_load

        print(run_load(seconds=args.seconds, jobs=args.jobs or 30, pollers=args.pollers))
    elif args.what == "service":
        from .bench.service import run as run_service

        print(run_service(seconds=args.seconds))
    else:
        from .bench.generate import run as run_generate

        print(
            run_generate(
                seconds=args.seconds,
                device=args.device,
                size=args.size,
                repeats=args.repeats,
                as_json=args.json,
                precision=args.precision,
                takes=args.takes,
                model_kind=args.model_kind,
            )
        )
    return 0


COMMANDS = {
    "demo": demo.run_args,
    "score": cmd_score,
    "analyze": cmd_analyze,
    "serve": cmd_serve,
    "bench": cmd_bench,
    dataset_cli.NAME: dataset_cli.run,
    train_cli.NAME: train_cli.run,
    evaluate_cli.NAME: evaluate_cli.run,
    download_cli.NAME: download_cli.run,
    "sync": cmd_sync,
}


def main(argv: Sequence[str] | None = None, *, program: bool = False) -> int:
    """Run a command. `program` (the process entry points only): also silence library chatter
    process-wide unless --verbose (see quiet.py)."""
    args = build_parser().parse_args(argv)
    if program:
        from .quiet import quiet_process

        quiet_process(args.verbose)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return COMMANDS[args.command](args)
    except Cancelled as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("cancelled: interrupted; no output was written", file=sys.stderr)
        return 130
    except ExpotionError as exc:
        report(exc)
        return 2


def console() -> int:
    """The `expotion` console script (pyproject `[project.scripts]`), the same as `python -m generator_service`."""
    return main(program=True)
