"""Loading a prepared dataset for training: `WindowDataset(root, split)` and `collate`.

`WindowDataset` is a `torch.utils.data.Dataset`, built on first use so that importing this module
does not import torch.
"""

from __future__ import annotations

import functools
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .dataset_files import DatasetError, check_summary, read_manifest, read_summary


class _WindowDatasetBase:
    """The windows of one split of a prepared dataset, for training.

    Items are dicts: codes LongTensor [K, T], condition FloatTensor [T, F],
    prompt str, id str; a melody checkpoint's dataset adds chroma LongTensor [Tc] (bins). Construction checks dataset.json against the expected feature fps / spec /
    model (see `check_summary`). `WindowDataset` is this plus `torch.utils.data.Dataset` as a base,
    built on first use so that importing this module does not import torch.
    """

    def __init__(
        self,
        root: Path,
        split: str = "train",
        *,
        feature_fps: float | None = None,
        spec: Any = None,
        model_id: str | None = None,
        num_codebooks: int | None = None,
    ) -> None:
        if split not in ("train", "test", "all"):
            raise ConfigError(f"split: {split!r} must be 'train', 'test' or 'all'")
        self.root = Path(root)
        self.summary = read_summary(self.root)
        check_summary(
            self.summary,
            feature_fps=feature_fps,
            spec=spec,
            model_id=model_id,
            num_codebooks=num_codebooks,
            where=f"dataset {self.root}",
        )
        entries = read_manifest(self.root)
        self.entries = [e for e in entries if split == "all" or e["split"] == split]
        self.split = split
        self.frames = int(self.summary["frames"])

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        entry = self.entries[index]
        path = self.root / entry["path"]
        try:
            with np.load(path, allow_pickle=False) as data:
                codes, condition = data["codes"], data["condition"]
                chroma = data["chroma"] if "chroma" in data.files else None
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise DatasetError(f"window {entry['id']}: cannot read {path} ({err})") from err
        if codes.shape[-1] != self.frames or condition.shape[0] != self.frames:
            raise DatasetError(
                f"window {entry['id']}: {codes.shape[-1]} code frames / {condition.shape[0]} "
                f"condition frames, dataset.json says {self.frames}"
            )
        item = {
            "codes": torch.from_numpy(codes.astype(np.int64)),
            "condition": torch.from_numpy(condition.astype(np.float32)),
            "prompt": entry["caption"],
            "id": entry["id"],
        }
        if chroma is not None:  # a melody checkpoint's dataset: the window's own chroma bins [Tc]
            item["chroma"] = torch.from_numpy(chroma.astype(np.int64))
        return item


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack items of one dataset: codes [B, K, T], condition [B, T, F], prompt/id lists."""
    import torch

    if not items:
        raise DatasetError("cannot collate an empty batch")
    frames = {int(item["codes"].shape[-1]) for item in items}
    if len(frames) != 1:
        raise DatasetError(f"windows of different lengths in one batch: {sorted(frames)} frames")
    return {
        "codes": torch.stack([item["codes"] for item in items]),
        "condition": torch.stack([item["condition"] for item in items]),
        "prompt": [item["prompt"] for item in items],
        "id": [item["id"] for item in items],
    } | ({"chroma": torch.stack([item["chroma"] for item in items])} if all("chroma" in i for i in items) else {})


@functools.cache
def _window_dataset_class() -> type:
    from torch.utils.data import Dataset

    return type(
        "WindowDataset",
        (_WindowDatasetBase, Dataset),
        {"__doc__": _WindowDatasetBase.__doc__, "__module__": __name__, "__qualname__": "WindowDataset"},
    )


if TYPE_CHECKING:  # for type checkers; at run time the module __getattr__ below builds it
    WindowDataset = _WindowDatasetBase


def __getattr__(name: str) -> Any:
    """`WindowDataset` is created lazily (PEP 562), the first time it is looked up."""
    if name == "WindowDataset":
        return _window_dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
