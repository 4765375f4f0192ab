"""Packing a decoder at a precision: int8's rounding (the cache's, else GPTQ's), its check, `auto`'s fallback.

`pack(decoder, precision)` hands the packed decoder (model/packed.py) its weights: at fp32 and
bf16 as they are; at int8 the layers' projections rounded with GPTQ (quantize.py; progress phase
"prepare", stops on `cancel`), or read from the int8 cache when these weights were rounded before
(int8_cache.py), with the argmax agreement with fp32 on the check inputs (parity.py) measured when
they were rounded. `pack_checked` is what a loaded model calls: it resolves `auto` (choice.py) and
holds an int8 pack to its floor: below it, `auto` packs again at the fallback precision and an
explicit int8 is kept with a warning that names the way out.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ...progress import CancelToken, ProgressCallback, no_progress
from ..decoder import MusicDecoder
from ..linear import check_supported
from ..packed import PackedDecoder
from .choice import fallback_precision, resolve_precision
from .int8_cache import Int8Cache, weights_digest
from .parity import FLOORS, agreement_with
from .quantize import PACK_UNITS, PHASE, quantize_layers

logger = logging.getLogger(__name__)


def pack(
    decoder: MusicDecoder,
    precision: str,
    *,
    int8_cache: Int8Cache | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> tuple[PackedDecoder, float | None]:
    """`decoder` packed at the concrete `precision` -> (packed decoder, its argmax agreement with
    fp32 on the check inputs: measured for int8, None at fp32 and bf16)."""
    if precision != "int8":
        return PackedDecoder(decoder, precision), None
    check_supported(precision, str(decoder.layer_norm.weight.device))
    fp32 = PackedDecoder(decoder, "fp32")
    digest = weights_digest(fp32) if int8_cache is not None else ""
    cached = int8_cache.load(digest, fp32) if int8_cache is not None else None
    if cached is not None:
        rounded, agreement = cached
        return PackedDecoder(decoder, precision, int8_layers=rounded), agreement
    logger.info("int8: rounding the decoder's weights with GPTQ (once per set of weights)")
    progress(PHASE, 0, PACK_UNITS)
    rounded = quantize_layers(fp32, progress, cancel)
    packed = PackedDecoder(decoder, precision, int8_layers=rounded)
    agreement = agreement_with(packed, fp32)
    progress(PHASE, PACK_UNITS, PACK_UNITS)
    logger.info("int8: argmax agreement with fp32 %.3f", agreement)
    if int8_cache is not None:
        int8_cache.save(digest, rounded, agreement)
    return packed, agreement


def pack_checked(
    decoder: MusicDecoder,
    requested: str,
    device: str,
    *,
    name: str,
    cache_dir: Path | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> tuple[PackedDecoder, float | None]:
    """`decoder` (of the model `name`, for the warnings) packed at `requested` ("auto" or a concrete
    precision) on `device`, int8 rounding kept under `cache_dir/int8` -> (packed, agreement); the
    packed decoder's `precision` says which precision it runs at."""
    precision = resolve_precision("auto", device) if requested == "auto" else requested
    cache = Int8Cache(cache_dir / "int8") if cache_dir is not None else None
    packed, agreement = pack(decoder, precision, int8_cache=cache, progress=progress, cancel=cancel)
    if agreement is None or agreement >= FLOORS[precision]:
        return packed, agreement
    fallback = fallback_precision(device)
    said = f"{name}: int8 agrees with fp32 on {agreement:.3f} of the check's tokens"
    if requested != "auto":  # asked for: kept, with the fact and the way out
        logger.warning("%s (floor %.2f); --precision %s would follow fp32 closer", said, FLOORS[precision], fallback)
        return packed, agreement
    logger.warning("%s (floor %.2f); generating at %s", said, FLOORS[precision], fallback)
    del packed  # free it before packing again
    return PackedDecoder(decoder, fallback), None
