"""The `download` command: fetch a hub model's files ahead of the first job, with a progress bar.
`add_parser(subparsers)` registers it, `run(args)` runs it (cli.py wires it in with two lines).

A download that stops (no connection, the hub down, Ctrl-C) says how far it got and how to go on;
run again and it continues from what huggingface_hub kept (model/download.py). Importing this
module is cheap.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

NAME = "download"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `download MODEL` on an argparse subparsers object."""
    p = subparsers.add_parser(
        NAME,
        help="fetch a Hugging Face model's files ahead of the first job (progress bar)",
        description="Download the files a MusicGen load needs (configs, tokenizer, weights) "
        "into the Hugging Face cache, where `serve` and `score` find them. "
        "MusicGen weights are licensed CC-BY-NC 4.0 (non-commercial).",
    )
    p.add_argument("model", help="a Hugging Face id, e.g. facebook/musicgen-small")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


class ByteBar:
    """A `(phase, done, total)` callback drawing one tqdm byte bar on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=phase, file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from .download import describe_bytes, fetch_model
    from .loading import TINY_MODELS

    if args.model in TINY_MODELS:
        raise ConfigError("model: `tiny` is built in and needs no download")
    bar = ByteBar(enabled=not args.quiet)
    try:
        fetched = fetch_model(args.model, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        print(
            f"cancelled: the download of {args.model} was interrupted; run the same command again to continue "
            "(files already fetched are kept)",
            file=sys.stderr,
        )
        return 130
    finally:
        bar.close()
    if fetched.cached_bytes:
        print(
            f"{describe_bytes(fetched.cached_bytes)} of {describe_bytes(fetched.total_bytes)} were already here",
            file=sys.stderr,
        )
    print(fetched.path)
    return 0
