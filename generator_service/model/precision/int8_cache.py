"""int8 weights kept on disk: GPTQ's rounding (quantize.py) runs once per set of weights.

Rounding musicgen-small's decoder with GPTQ costs ~20 s on a 2-core CPU, every model load. The
rounded weights, their scales and the agreement with fp32 the pack measured (parity.py) are
saved in `<cache dir>/int8/<digest>.pt`, where the digest is the SHA-256 of everything the rounding
and the check read: the decoder's effective weights (LoRA merged) in fp32, the calibration and
check settings and this format's version. Any change to the weights (another checkpoint, an
adapter's LoRA) is another file; the same weights find theirs, whoever loads them.

Files are written whole (a temporary file renamed into place), read with `torch.load(...,
weights_only=True)` (tensors, numbers and strings only: a file cannot run code) and checked
against the decoder's shapes. A file that cannot be read is deleted and the weights are rounded
again; a cache that cannot be written (a full disk, a read-only directory) logs a warning and
costs the next load the rounding again, nothing else. At most `MAX_FILES` sets are kept (the least
recently used go first): musicgen-small's is ~0.3 GB, medium's ~1.5 GB.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import tempfile
import time
from pathlib import Path

import torch

from ..packed import Int8Layers, PackedDecoder, effective_weight
from . import parity, quantize

logger = logging.getLogger(__name__)

#: Bump when the rounding or the file layout changes: old files are then never read.
FORMAT_VERSION = 1
MAX_FILES = 4
#: A file being written (renamed to `<digest>.pt` once whole).
PARTIAL = ".partial"

#: What torch.load and the checks raise on a damaged or foreign file.
_UNREADABLE = (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, AttributeError, pickle.UnpicklingError)

#: Per layer and slot (quantize.py's SLOTS): int8 weight [N, K] and scales [N].
Rounded = Int8Layers


def weights_digest(reference: PackedDecoder) -> str:
    """SHA-256 of the fp32 packed decoder's weights (what GPTQ and the check read), the text's
    cross-attention projections it takes from its module form, and the settings of both."""
    digest = hashlib.sha256()
    settings = (
        FORMAT_VERSION,
        quantize.CALIBRATION_ROWS,
        quantize.CALIBRATION_LENGTH,
        quantize.CALIBRATION_SEED,
        quantize.MAX_BLOCK,
        quantize.DAMPING,
        parity.CHECK_ROWS,
        parity.CHECK_LENGTH,
        parity.CHECK_SEED,
        repr(reference.spec),
    )
    digest.update(repr(settings).encode())
    tensors = [reference.embed, reference.positions, *reference.norm]
    for layer in reference.layers:
        tensors += [*layer.ln1, *(layer.ln2 or ()), *layer.ln3]
        tensors += [getattr(layer, slot).weight for slot in quantize.layer_slots(layer)]
    tensors += [head.weight for head in reference.heads]
    for layer in reference.reference.layers:
        if not hasattr(layer, "encoder_attn"):  # prefix conditioning: no text keys/values
            continue
        tensors += [effective_weight(layer.encoder_attn.k_proj), effective_weight(layer.encoder_attn.v_proj)]
    for tensor in tensors:
        data = tensor.detach().float().contiguous().cpu()
        digest.update(repr(tuple(data.shape)).encode())
        digest.update(data.numpy())  # the buffer itself: no copy
    return digest.hexdigest()


class Int8Cache:
    """Rounded int8 weights and their measured agreement, by weights digest, in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, digest: str) -> Path:
        return self.directory / f"{digest}.pt"

    def load(self, digest: str, reference: PackedDecoder) -> tuple[Rounded, float] | None:
        """The rounded weights and agreement saved for `digest`, or None (absent or unreadable)."""
        path = self.path(digest)
        if not path.is_file():
            return None
        try:
            data = torch.load(path, map_location=reference.device, weights_only=True)
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"format version {data.get('version')!r}, expected {FORMAT_VERSION}")
            rounded: Rounded = [
                {
                    slot: (layer[f"{slot}.weight"], layer[f"{slot}.scales"])
                    for slot in quantize.SLOTS
                    if f"{slot}.weight" in layer
                }
                for layer in data["layers"]
            ]
            _check_shapes(rounded, reference)
            agreement = float(data["agreement"])
        except _UNREADABLE as exc:  # a damaged or foreign file: round again, never fail the load
            logger.warning("int8 cache: %s is unreadable (%s); rounding the weights again", path, exc)
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):  # a read-only cache still serves
            os.utime(path)  # recently used
        return rounded, agreement

    def save(self, digest: str, rounded: Rounded, agreement: float) -> None:
        """Write the set whole (or not at all), then keep the `MAX_FILES` most recently used."""
        layers = [
            {f"{slot}.{part}": t.cpu() for slot, pair in layer.items() for part, t in zip(("weight", "scales"), pair)}
            for layer in rounded
        ]
        data = {"version": FORMAT_VERSION, "agreement": agreement, "layers": layers}
        tmp = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=PARTIAL)
            with os.fdopen(fd, "wb") as fh:
                torch.save(data, fh)
            os.replace(tmp, self.path(digest))
            tmp = None
            self._evict()
        except OSError as exc:
            logger.warning(
                "int8 cache: cannot write %s (%s); the next load rounds the weights again", self.directory, exc
            )
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def _evict(self) -> None:
        """Keep the `MAX_FILES` most recently used sets; drop what a crashed writer left an hour ago."""
        now = time.time()
        for partial in self.directory.glob(f"*{PARTIAL}"):
            with contextlib.suppress(OSError):
                if now - partial.stat().st_mtime > 3600:
                    partial.unlink()
        files = sorted(self.directory.glob("*.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[MAX_FILES:]:
            old.unlink(missing_ok=True)


def _check_shapes(rounded: Rounded, reference: PackedDecoder) -> None:
    if len(rounded) != len(reference.layers):
        raise ValueError(f"{len(rounded)} layers, the decoder has {len(reference.layers)}")
    for layer, packed in zip(rounded, reference.layers, strict=True):
        for slot, (weight, scales) in layer.items():
            expected = tuple(getattr(packed, slot).weight.shape)
            if tuple(weight.shape) != expected or weight.dtype != torch.int8 or tuple(scales.shape) != expected[:1]:
                raise ValueError(f"{slot}: int8 {tuple(weight.shape)}, the decoder's weight is {expected}")
