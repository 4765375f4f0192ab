"""A prepared dataset on disk: its format, the summary (dataset.json), the manifest (manifest.jsonl)
and how a finished preparation is published into place.

    out/windows/<id>.npz   one per window: codes int16 [K, T], condition float16 [T, F]
    out/manifest.jsonl     one line per window: id, recording, split, start, end, caption, path,
                           visual ("present" | "null"), frames
    out/dataset.json       the summary: model, feature spec/version/fps, window, counts, skipped
                           files with reasons, warnings, split seed
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from expotion_protocol.features import FEATURE_SPEC

from ..errors import ExpotionError

FORMAT = "expotion-windows"
FORMAT_VERSION = 1
#: dtype of the stored condition values.
CONDITION_DTYPE = np.float16

logger = logging.getLogger(__name__)


class DatasetError(ExpotionError, ValueError):
    """A dataset cannot be prepared or loaded: no usable recording, a bad caption file, a mismatch."""

    hint = "Fix the named file or setting, or prepare the dataset again with `prepare-dataset`."


def publish(staging: Path, out: Path, entries: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Move the staged windows into `out` and write manifest.jsonl, then dataset.json last."""
    (out / "dataset.json").unlink(missing_ok=True)  # an interrupted swap leaves no valid dataset
    manifest = staging / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    shutil.rmtree(out / "windows", ignore_errors=True)
    (staging / "windows").replace(out / "windows")
    manifest.replace(out / "manifest.jsonl")
    tmp = staging / "dataset.json"
    tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out / "dataset.json")
    for split in ("train", "test"):
        if not summary["counts"][f"{split}_windows"]:
            logger.warning(
                "the %s split is empty (test fraction %s, seed %s)",
                split,
                summary["split"]["test_fraction"],
                summary["split"]["seed"],
            )


def read_summary(root: Path) -> dict[str, Any]:
    """dataset.json of a prepared dataset; `DatasetError` if missing or of another format."""
    path = Path(root) / "dataset.json"
    if not path.is_file():
        raise DatasetError(f"{root} is not a prepared dataset (no dataset.json)")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path} is unreadable: {err}") from err
    if not isinstance(summary, dict) or summary.get("format") != FORMAT:
        raise DatasetError(f"{path} is not an {FORMAT} dataset summary")
    if summary.get("format_version") != FORMAT_VERSION:
        raise DatasetError(
            f"{path} has format version {summary.get('format_version')}, this code reads version {FORMAT_VERSION}"
        )
    return summary


def check_summary(
    summary: dict[str, Any],
    *,
    feature_fps: float | None = None,
    spec: Any = None,
    model_id: str | None = None,
    num_codebooks: int | None = None,
    where: str = "dataset",
) -> None:
    """`DatasetError` naming every difference between a dataset and what the caller expects.

    `spec` defaults to this code's FEATURE_SPEC; None for the other checks means "anything".
    """
    spec = spec or FEATURE_SPEC
    have, model = summary.get("features", {}), summary.get("model", {})
    diffs: list[str] = []
    if (have.get("spec"), have.get("version")) != (spec.name, spec.version):
        diffs.append(f"feature spec {have.get('spec')} v{have.get('version')} (expected {spec.name} v{spec.version})")
    elif have.get("dim") != spec.dim:
        diffs.append(f"feature dim {have.get('dim')} (expected {spec.dim})")
    if feature_fps is not None and not math.isclose(float(have.get("fps", float("nan"))), feature_fps, abs_tol=1e-9):
        diffs.append(f"feature fps {have.get('fps')} (expected {feature_fps:g})")
    if model_id is not None and model.get("id") != model_id:
        diffs.append(f"model {model.get('id')!r} (expected {model_id!r})")
    if num_codebooks is not None and model.get("num_codebooks") != num_codebooks:
        diffs.append(f"{model.get('num_codebooks')} codebooks (expected {num_codebooks})")
    if diffs:
        raise DatasetError(
            f"{where} was prepared with " + "; ".join(diffs),
            hint="Prepare the dataset again with matching settings, or train with the dataset's settings.",
        )


def read_manifest(root: Path) -> list[dict[str, Any]]:
    """All manifest.jsonl entries of a prepared dataset."""
    path = Path(root) / "manifest.jsonl"
    if not path.is_file():
        raise DatasetError(f"{root} has no manifest.jsonl")
    entries = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.strip():
            try:
                entries.append(json.loads(text))
            except json.JSONDecodeError as err:
                raise DatasetError(f"{path}:{line}: not valid JSON ({err.msg})") from err
    return entries
