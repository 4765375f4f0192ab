"""The `evaluate` command: generate with the model (+ adapter) and the text-only baseline, same
seeds and prompts, score both against the video's motion and expression, write report.html/.json.

Beside them (`--systems`, default all that apply): "beat-locked" (the text-only music locked to
the clip's motion beats and hits by the beat lock) and "beat-locked+schedule" (the same lock on
the scoring pipeline's scheduled generation: the words suggested from the video, for a clip
longer than one generation window a prompt per schedule segment with continuation across windows,
`pipeline.schedule`; --clips only). The systems' own music is generated with the lock off: the
runner locks it. A clip's hits are read from a sibling `STEM.hits.json` (`[{"t", "kind",
"strength"}]`, seconds on the video's clock).

`--clips DIR`: every video in DIR (features read with MediaPipe, music scored by the pipeline); a
clip's own music (a sibling audio file with its stem, else its audio track) is the ground truth.
`--data PREPARED`: the test split of a prepared dataset (condition at 50 Hz; its music, decoded
from the stored codes, is scored as the ground truth).

Optional reference models, off by default and loaded from local files only (see `references`):
`--fad encodec|clap` adds FAD against the ground truth, `--clap PATH_OR_ID` the CLAP text score.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..pipeline.hits import shift_hits

logger = logging.getLogger(__name__)

NAME = "evaluate"
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
FAD_CHOICES = ("none", "encodec", "clap")
#: Every system `--systems` may name; "auto" is all that apply (expotion needs --adapter,
#: beat-locked+schedule needs --clips).
SYSTEM_CHOICES = ("expotion", "text-only", "beat-locked", "beat-locked+schedule")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(NAME, help="does the music follow the video? metrics + HTML report")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--clips", type=Path, help="folder of video clips")
    src.add_argument("--data", type=Path, help="prepared dataset (its test split)")
    p.add_argument("--model", default=None, help="hub id, local dir or 'tiny'")
    p.add_argument("--adapter", type=Path, default=None, help="adapter directory (else only the text-only baseline)")
    p.add_argument("--out", type=Path, required=True, help="report folder (report.html, report.json)")
    p.add_argument("--prompt", default="", help="prompt for --clips (datasets use their captions)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N clips")
    p.add_argument("--tolerance", type=float, default=0.1, help="beat hit window, +- seconds")
    p.add_argument(
        "--systems", default="auto", help=f"comma-separated, from {', '.join(SYSTEM_CHOICES)} (default: all that apply)"
    )
    p.add_argument("--max-stretch", type=float, default=0.08, help="beat lock: local stretch bound (+-)")
    p.add_argument(
        "--window",
        type=float,
        default=None,
        help="--clips: generation window, seconds (default: the model's maximum); clips longer than "
        "one window get a prompt schedule in beat-locked+schedule",
    )
    p.add_argument(
        "--fad",
        choices=FAD_CHOICES,
        default="none",
        help="FAD vs ground truth on this embedding: the music model's EnCodec or CLAP (needs --clap)",
    )
    p.add_argument(
        "--clap",
        default=None,
        metavar="PATH_OR_ID",
        help="local CLAP dir or cached hub id (never downloaded): text score, and --fad clap",
    )
    p.add_argument("--device", default=None)
    p.add_argument("--offline", action="store_true")
    p.add_argument("--quiet", action="store_true")
    return p


def _item_from_features(clip_id: str, values: np.ndarray, fps: float, prompt: str, seed: int, **extra: Any):
    from expotion_protocol.features import FEATURE_SPEC as S

    from .inputs import EvalItem
    from .metrics import expression_intensity

    body = values[:, [S.index("pose.body_vel.x"), S.index("pose.body_vel.y")]]
    return EvalItem(
        clip_id=clip_id,
        fps=fps,
        motion_energy=values[:, S.index("pose.energy")],
        expression_intensity=expression_intensity(values[:, :52]),
        body_velocity=body,
        prompt=prompt,
        seed=seed,
        **extra,
    )


def _clip_truth(video: Path, info: Any, start: float, end: float, sample_rate: int) -> np.ndarray | None:
    """The clip's own music over [start, end) -> [S] at `sample_rate`, or None when it has none.

    A sibling audio file wins over the video's track (as in dataset preparation); unreadable audio is
    logged and skipped, so that clip is scored without ground truth.
    """
    from ..training.audio_io import AudioError, decode_audio, sibling_audio

    source = sibling_audio(video)
    if source is None and not info.has_audio:
        return None
    try:
        audio = decode_audio(source or video, sample_rate, origin=None if source else info.start_time)
    except AudioError as err:
        logger.warning("%s: no ground truth (%s)", video.name, err.message)
        return None
    return audio.samples[int(round(start * sample_rate)) : int(round(end * sample_rate))]


def _clip_items(args: argparse.Namespace, scorer_for: Callable[[str], Any]):
    from ..pipeline.score import ScoreRequest
    from ..pipeline.score_lock import LockRequest
    from ..pipeline.video import probe_video, resolve_range

    videos = sorted(p for p in args.clips.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)[: args.limit]
    items, requests = [], {}
    base = scorer_for("text-only")
    for video in videos:
        info = probe_video(video)
        start, end = resolve_range(info, None, None)
        track = base.read_features(video, start, end, lambda *a: None, None)
        truth = _clip_truth(video, info, start, end, base.music.sample_rate)
        hits = _clip_hits(video)
        items.append(
            _item_from_features(
                video.name,
                track.values,
                track.fps,
                args.prompt,
                args.seed,
                ground_truth_audio=truth,
                hits=tuple(shift_hits(hits, start, end)),
            )
        )
        # the runner locks the music: every system's own music is made with the lock off
        requests[video.name] = ScoreRequest(video, start, end, lock=LockRequest("off", tuple(hits)))

    def generate(item, system: str) -> np.ndarray:
        from ..config import GenerationConfig

        window = args.window
        gen = GenerationConfig(
            prompt=item.prompt,
            seed=item.seed or 0,
            window_s=window,
            context_s=min(10.0, window / 2) if window else 10.0,
        )
        request = replace(requests[item.clip_id], generation=gen)
        if system == "text-only+schedule":  # the suggested words, a prompt per segment of a long clip
            return base(replace(request, auto_prompt=True)).takes[0]
        return scorer_for(system)(request).takes[0]

    return items, generate


def _clip_hits(video: Path) -> list:
    """The hits of a clip from its sibling STEM.hits.json (on the video's clock), or none."""
    from ..pipeline.hits import load_hits

    path = video.with_name(f"{video.stem}.hits.json")
    return load_hits(path) if path.is_file() else []


def _data_items(args: argparse.Namespace, music: Any, adapter: Any):
    from ..config import GenerationConfig
    from ..pipeline.generate import decode_codes, generate_codes, guidance_blocks
    from ..training.window_dataset import WindowDataset

    test = WindowDataset(args.data, "test", model_id=music.model_id)
    picked = [test[i] for i in range(len(test))][: args.limit]
    items, conditions = [], {}
    for entry in picked:
        codes = entry["codes"][None].to(music.device)
        truth = decode_codes(music, codes, chunk_frames=codes.shape[-1], overlap_frames=0)[0]
        values = entry["condition"].numpy()
        items.append(
            _item_from_features(
                entry["id"], values, float(music.frame_rate), entry["prompt"], args.seed, ground_truth_audio=truth
            )
        )
        conditions[entry["id"]] = values

    def generate(item, system: str) -> np.ndarray:
        values = conditions[item.clip_id]
        frames = values.shape[0]
        window = adapter.config.window_s if adapter is not None else None
        cfg = GenerationConfig(prompt=item.prompt, seed=item.seed or 0, window_s=window, context_s=(window or 20.0) / 2)
        runner = None
        if system == "expotion":
            runner = adapter.runner(music, values, batch=1, blocks=guidance_blocks(cfg))
        codes = generate_codes(music, frames, cfg, condition=runner)
        return decode_codes(music, codes, chunk_frames=frames, overlap_frames=0)[0]

    return items, generate


def _systems(args: argparse.Namespace, has_adapter: bool) -> tuple[str, ...]:
    """The systems to compare, first the one under test (ConfigError for a name that cannot run)."""
    if args.systems == "auto":
        wanted = [
            s
            for s in SYSTEM_CHOICES
            if (s != "expotion" or has_adapter) and (s != "beat-locked+schedule" or args.clips is not None)
        ]
        return tuple(wanted)
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SYSTEM_CHOICES]
    if unknown or not wanted:
        raise ConfigError(
            f"--systems: unknown {', '.join(unknown) or '(none given)'}",
            hint=f"Choose from {', '.join(SYSTEM_CHOICES)}.",
        )
    if "expotion" in wanted and not has_adapter:
        raise ConfigError("--systems: expotion needs --adapter")
    if "beat-locked+schedule" in wanted and args.clips is None:
        raise ConfigError(
            "--systems: beat-locked+schedule needs --clips (a prepared dataset has no video to plan a schedule from)"
        )
    return tuple(dict.fromkeys(wanted))


class _TrackCache:
    """Feature tracks kept in memory for the run (the `Scorer.feature_cache` seam)."""

    def __init__(self) -> None:
        self._tracks: dict[tuple[str, float, float], Any] = {}

    def get(self, video: Path, start: float, end: float, config: Any) -> Any:
        return self._tracks.get((str(video), start, end))

    def put(self, video: Path, start: float, end: float, config: Any, track: Any) -> None:
        self._tracks[(str(video), start, end)] = track


def check_reference_args(args: argparse.Namespace) -> None:
    """Fail before loading anything: `--fad clap` needs `--clap`."""
    if args.fad == "clap" and not args.clap:
        raise ConfigError(
            "--fad clap needs --clap PATH_OR_ID",
            hint="Pass --clap with a local CLAP directory or a hub id in the local cache, or use --fad encodec.",
        )


def _references(args: argparse.Namespace, music: Any) -> tuple[Any, Any, dict[str, Any]]:
    """(embedder or None, text_scorer or None, report meta entries) for --fad / --clap."""
    from .references import encodec_embedder, load_clap

    embedder = text_scorer = None
    meta: dict[str, Any] = {}
    clap = load_clap(args.clap, device=music.device) if args.clap else None
    if clap is not None:
        text_scorer = clap.text_score
        meta["text_score_model"] = f"{clap.description}: cosine(audio, prompt), mean over windows"
        if args.clips is not None and not args.prompt.strip():
            logger.warning("--clap with --clips but no --prompt: the text score is undefined")
    if args.fad == "encodec":
        embedder = encodec_embedder(music)
        meta["fad_embedding"] = embedder.description
    elif args.fad == "clap" and clap is not None:
        embedder = clap.embed
        meta["fad_embedding"] = clap.description
    if meta:
        meta["reference_models"] = "local files only; nothing downloaded"
    return embedder, text_scorer, meta


def run(args: argparse.Namespace) -> int:
    check_reference_args(args)
    from ..model.adapter_files import load_adapter
    from ..model.loading import load_music_model
    from ..pipeline.score import Scorer
    from ..progress_bar import BarProgress
    from .inputs import EvalConfig
    from .report import write_report
    from .runner import evaluate

    systems = _systems(args, args.adapter is not None)
    if any(s.startswith("beat-locked") for s in systems):
        from ..pipeline.beatlock import check_max_stretch
        from ..pipeline.rubberband import find_rubberband

        check_max_stretch(args.max_stretch)
        find_rubberband()
    music = load_music_model(args.model, device=args.device, allow_network=not args.offline)
    embedder, text_scorer, reference_meta = _references(args, music)
    adapter = load_adapter(args.adapter, music) if args.adapter else None
    tracks = _TrackCache()  # features are read once per clip, whichever system reads them
    scorers = {"text-only": Scorer(music, feature_cache=tracks)}
    if adapter is not None:
        scorers["expotion"] = Scorer(music, adapter=adapter, feature_cache=tracks)
    if args.clips is not None:
        items, generate = _clip_items(args, scorers.__getitem__)
    else:
        items, generate = _data_items(args, music, adapter)
    bar = BarProgress(enabled=not args.quiet)
    meta = {
        "model": music.model_id,
        "adapter": str(args.adapter) if args.adapter else None,
        "untrained": music.untrained,
        "source": str(args.clips or args.data),
        "ground_truth": f"{sum(i.ground_truth_audio is not None for i in items)} of {len(items)} clips",
        **reference_meta,
    }
    if "beat-locked+schedule" in systems:
        meta["schedule"] = (
            "the words suggested from the video; clips longer than one generation window: a prompt "
            "per schedule segment, generated with continuation across windows"
        )
    try:
        report = evaluate(
            items,
            generate,
            EvalConfig(systems=systems, tolerance_s=args.tolerance, max_stretch=args.max_stretch),
            embedder=embedder,
            text_scorer=text_scorer,
            progress=bar,
            meta=meta,
        )
    finally:
        bar.close()
    args.out.mkdir(parents=True, exist_ok=True)
    html, js = write_report(report, args.out)
    print(json.dumps({"report": str(html), "json": str(js), "clips": len(items), "systems": list(systems)}, indent=2))
    return 0
