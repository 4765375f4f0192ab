"""The `prepare-dataset` command: `add_parser(subparsers)` registers it, `run(args)` runs it.

Kept apart from cli.py so the command is wired in with two lines; importing this module is cheap
(the dataset code, torch and the model load inside `run`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

NAME = "prepare-dataset"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `prepare-dataset` and its flags on an argparse subparsers object."""
    p = subparsers.add_parser(
        NAME,
        help="cut videos with their music into aligned training windows (codes + visual condition)",
        description="Cut every video under SRC, with its music (a sibling .wav/.flac/.mp3/.ogg with the same "
        "name, else its own audio track), into windows: EnCodec codes of the music and the visual "
        "condition at the codec rate. Writes OUT/windows/*.npz, OUT/manifest.jsonl and "
        "OUT/dataset.json. The train/test split is by recording.",
    )
    p.add_argument("src", type=Path, metavar="SRC", help="folder of videos (searched recursively)")
    p.add_argument("out", type=Path, metavar="OUT", help="output folder (new, empty, or an earlier dataset)")
    p.add_argument(
        "--captions",
        type=Path,
        default=None,
        help='CSV with columns file,caption or JSONL of {"file", "caption"}; file is a path '
        "relative to SRC or a file name",
    )
    p.add_argument("--default-prompt", default="", help="caption of videos the caption file does not name")
    p.add_argument("--window", type=float, default=10.0, help="window length, seconds (default 10)")
    p.add_argument("--hop", type=float, default=None, help="step between windows, seconds (default: the window)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of recordings for the test split")
    p.add_argument("--seed", type=int, default=0, help="seed of the recording split (default 0)")
    p.add_argument(
        "--model",
        default=None,
        help="whose EnCodec makes the codes: hub id, local directory, or 'tiny' (untrained test "
        "model); default $EXPOTION_MODEL or facebook/musicgen-small (weights CC-BY-NC 4.0)",
    )
    p.add_argument(
        "--device",
        default=None,
        help="torch device: cuda, mps (fp32/bf16) or cpu (default: cuda, then mps, then cpu, as available)",
    )
    p.add_argument("--offline", action="store_true", help="never contact the model hub")
    p.add_argument("--feature-fps", type=float, default=10.0, help="face/pose sampling rate (default 10)")
    p.add_argument(
        "--feature-cache",
        type=Path,
        default=None,
        help="folder of cached feature tracks (default: <cache dir>/features)",
    )
    p.add_argument(
        "--allow-download",
        action="store_true",
        help="allow downloading missing MediaPipe model files from Google's official URL",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    """Prepare the dataset; print counts and skipped files (JSON) on stdout. Domain errors propagate
    (cli.main prints them with their hint)."""
    from ..config import FeatureConfig
    from ..model.loading import load_music_model
    from ..progress_bar import BarProgress
    from .dataset import DatasetConfig, prepare_dataset

    config = DatasetConfig(
        window_s=args.window,
        hop_s=args.hop,
        test_fraction=args.test_fraction,
        seed=args.seed,
        default_prompt=args.default_prompt,
        captions=args.captions,
    )
    features = FeatureConfig(feature_fps=args.feature_fps, allow_download=args.allow_download)
    music = load_music_model(args.model, device=args.device, allow_network=not args.offline)
    bar = BarProgress(enabled=not args.quiet)
    try:
        summary = prepare_dataset(
            args.src, args.out, music, config, features, feature_cache=args.feature_cache, progress=bar
        )
    finally:
        bar.close()
    if summary["skipped"]:  # each was logged (stderr) as it happened; repeat the count after the bars
        print(f"{len(summary['skipped'])} file(s) skipped; reasons in {args.out / 'dataset.json'}", file=sys.stderr)
    if summary["model"]["untrained"]:
        print("NOTE: codes made with the UNTRAINED tiny test model's codec: for tests only.", file=sys.stderr)
    print(json.dumps({"out": str(args.out), "counts": summary["counts"], "skipped": summary["skipped"]}, indent=2))
    return 0
