"""The features of one clip (`FeatureTrack`: values [N, F] at `feature_fps` with their times and
face/person masks) and its .npz file."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from expotion_protocol.features import FEATURE_SPEC, FeatureSpec


@dataclass
class FeatureTrack:
    """Features of one clip sampled at `fps`.

    times [N] float64 true frame times (s, source timeline); target_times [N] float64 the sample
    times start + i / fps; values [N, F] float32 (zero where the stream is absent);
    face_mask [N] bool; person_mask [N] bool.
    """

    times: np.ndarray
    target_times: np.ndarray
    values: np.ndarray
    face_mask: np.ndarray
    person_mask: np.ndarray
    fps: float
    spec_name: str = FEATURE_SPEC.name
    spec_version: int = FEATURE_SPEC.version

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        self.target_times = np.asarray(self.target_times, dtype=np.float64).reshape(-1)
        n = self.times.shape[0]
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.ndim != 2 or self.values.shape[0] != n:
            raise ValueError(f"FeatureTrack.values has shape {self.values.shape}, expected [{n}, F]")
        self.face_mask = np.asarray(self.face_mask, dtype=bool).reshape(-1)
        self.person_mask = np.asarray(self.person_mask, dtype=bool).reshape(-1)
        for name in ("target_times", "face_mask", "person_mask"):
            if getattr(self, name).shape[0] != n:
                raise ValueError(f"FeatureTrack.{name} has {getattr(self, name).shape[0]} frames, times has {n}")
        if self.fps <= 0:
            raise ValueError(f"FeatureTrack.fps must be > 0, got {self.fps}")

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @classmethod
    def empty(cls, fps: float, dim: int = FEATURE_SPEC.dim) -> FeatureTrack:
        """A track with no frames."""
        none = np.zeros(0)
        return cls(none, none, np.zeros((0, dim), np.float32), none.astype(bool), none.astype(bool), fps)

    def save(self, path: Path) -> None:
        """Write the track as .npz (atomic: temp file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(
            buf, times=self.times, target_times=self.target_times, values=self.values,
            face_mask=self.face_mask, person_mask=self.person_mask, fps=np.float64(self.fps),
            spec_name=np.str_(self.spec_name), spec_version=np.int64(self.spec_version),
        )  # fmt: skip
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(buf.getvalue())
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, spec: FeatureSpec = FEATURE_SPEC) -> FeatureTrack:
        """Read a track written by `save`; `ValueError` if it was made with another feature spec."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, EOFError) as exc:
            raise ValueError(f"{path} is not a readable feature track: {exc}") from exc
        name, version = str(arrays["spec_name"]), int(arrays["spec_version"])
        if (name, version) != (spec.name, spec.version):
            raise ValueError(f"{path} holds features {name} v{version}, expected {spec.name} v{spec.version}")
        return cls(
            arrays["times"], arrays["target_times"], arrays["values"], arrays["face_mask"],
            arrays["person_mask"], float(arrays["fps"]), name, version,
        )  # fmt: skip
