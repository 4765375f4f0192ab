"""Loading a MusicGen for scoring: a Hugging Face hub id, a local directory, or the built-in `tiny`.

Every path goes through transformers' own `from_pretrained`. Hub ids are looked up in the local
cache first; the network is tried only when allowed (`allow_network`, and not `HF_HUB_OFFLINE`).
The result is a `MusicModel`: the model, its tokenizer, our own decoder built from its weights
(model/decoder.py), the precision generation runs at, and the facts the pipeline needs.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import DEFAULT_MODEL, default_cache_dir
from ..errors import ConfigError, ModelLoadError
from ..progress import CancelToken, ProgressCallback, no_progress
from .tiny import TINY_MODELS, ensure_tiny_model, is_tiny_dir

if TYPE_CHECKING:
    from .chroma import ChromaSettings
    from .decoder import MusicDecoder
    from .packed import PackedDecoder

logger = logging.getLogger(__name__)

#: transformers' `model_type` of the melody checkpoints (facebook/musicgen-melody, -stereo-melody*).
MELODY_MODEL_TYPE = "musicgen_melody"
#: The models that take a melody (a reference chroma): the built-in untrained one and the published checkpoints.
MELODY_MODELS = (
    "tiny-melody",
    "facebook/musicgen-melody",
    "facebook/musicgen-melody-large",
    "facebook/musicgen-stereo-melody",
    "facebook/musicgen-stereo-melody-large",
)
MELODY_HINT = (
    f"A melody needs a melody checkpoint: --model {', '.join(MELODY_MODELS)} "
    "(or a local copy of one); or leave out --melody."
)
#: The same for a job sent to the service (`POST /v1/jobs` with a melody).
SERVICE_MELODY_HINT = (
    f"A melody needs a melody checkpoint: start the service with serve --model {', '.join(MELODY_MODELS)} "
    "(or a local copy of one); or send the job without a melody."
)

#: Longest window the base MusicGen models were trained on.
MUSICGEN_MAX_WINDOW_S = 30.0
LICENCE_NOTE = (
    "MusicGen weights (facebook/musicgen-*) are licensed CC-BY-NC 4.0: non-commercial use only. "
    "The built-in `tiny` model is random and untrained."
)


@dataclass
class MusicModel:
    """A loaded MusicGen and what the pipeline needs to know about it."""

    model: Any  # MusicgenForConditionalGeneration
    tokenizer: Any
    model_id: str
    #: True for the built-in random model: every output made with it must say so.
    untrained: bool
    device: str
    sample_rate: int
    frame_rate: int
    num_codebooks: int
    max_window_s: float = MUSICGEN_MAX_WINDOW_S
    #: The hub commit the weights came from (None for local directories).
    revision: str | None = None
    #: Concrete precision generation runs at: "fp32", "bf16" or "int8" (model/precision/).
    precision: str = "fp32"
    #: Chosen by `auto`: each pack resolves `auto` again, and an int8 pack whose agreement with fp32
    #: falls below its floor is replaced by bf16 or fp32 (model/precision/choice.py's `fallback_precision`);
    #: `precision` says which. A copy meant to run at another precision sets this False too.
    auto_precision: bool = False
    #: Where rounded int8 weights are kept between loads (model/precision/int8_cache.py); None: nowhere.
    cache_dir: Path | None = None
    #: On CUDA: capture each decode step in a CUDA graph (falls back to eager when capture fails).
    cuda_graphs: bool = True
    #: On CUDA: torch.compile the decode step before capturing it (optional, off by default).
    compile_step: bool = False
    #: A melody checkpoint's chroma settings (its preprocessor_config.json, model/chroma.py); None otherwise.
    chroma: ChromaSettings | None = None
    #: Our decoder, sharing the weights of `model.decoder` (built on construction; a
    #: `dataclasses.replace` copy gets its own, without any adapter's LoRA).
    decoder: MusicDecoder = field(init=False, repr=False)
    #: The argmax agreement with fp32 the current int8 pack measured (model/precision/parity.py);
    #: None at fp32 and bf16 and before the first pack.
    agreement: float | None = field(default=None, init=False)
    _packed: tuple[Any, PackedDecoder] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from .decoder import MusicDecoder

        self.decoder = MusicDecoder.from_transformers(self.model.decoder)

    @property
    def hop_length(self) -> int:
        """Audio samples per codec frame."""
        return self.sample_rate // self.frame_rate

    @property
    def melody(self) -> bool:
        """A melody checkpoint: conditioned by a prefix of chroma + text states (model/melody.py)."""
        return not self.decoder.spec.cross_attention

    @property
    def audio_channels(self) -> int:
        """1 (mono) or 2 (stereo checkpoints: left/right codebooks interleaved)."""
        return self.decoder.spec.audio_channels

    def packed(self, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> PackedDecoder:
        """The decoder packed for inference at `precision`, rebuilt when any decoder weight changed
        (LoRA attached or trained, weights loaded). Rounding int8 weights the first time reports
        phase "prepare" to `progress` and stops on `cancel` (model/precision/packing.py)."""
        from .packed import pack_key

        key = pack_key(self.decoder, "auto" if self.auto_precision else self.precision)
        if self._packed is None or self._packed[0] != key:
            self._packed = None  # free the old form before building the new one
            self._packed = (key, self._pack(progress, cancel))
        return self._packed[1]

    def _pack(self, progress: ProgressCallback, cancel: CancelToken | None) -> PackedDecoder:
        from .precision.packing import pack_checked

        requested = "auto" if self.auto_precision else self.precision
        packed, self.agreement = pack_checked(
            self.decoder,
            requested,
            self.device,
            name=self.model_id,
            cache_dir=self.cache_dir,
            progress=progress,
            cancel=cancel,
        )
        self.precision = packed.precision
        return packed


def resolve_model_id(model_id: str | None) -> str:
    """`--model` value, else `$EXPOTION_MODEL`, else the default hub id."""
    return model_id or os.environ.get("EXPOTION_MODEL") or DEFAULT_MODEL


def pick_device(device: str | None = None) -> str:
    """`--device` as given (checked for cuda/mps), else cuda, then Apple's mps, then cpu, as available.

    On mps our decoder runs at fp32 and bf16 (int8's weight-only kernels are CUDA/CPU ones).
    """
    import torch

    if device:
        if device.startswith("mps") and not torch.backends.mps.is_available():
            raise ConfigError(
                f"device: {device!r} asked for, but torch {torch.__version__} sees no Apple GPU (mps)",
                "mps needs macOS 12.3+ on Apple silicon with a torch built for it; use --device cpu here.",
            )
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"device: {device!r} asked for, but torch {torch.__version__} sees no CUDA device",
                "Install a CUDA build of torch and check nvidia-smi / CUDA_VISIBLE_DEVICES, or use --device cpu.",
            )
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def takes_melody(model_id: str) -> bool | None:
    """Whether `model_id` is a melody checkpoint, told without loading it: by name (the built-in
    models, `MELODY_MODELS`) or by the `model_type` in its config.json (a local folder, or a hub id
    in the local cache); None when that cannot be told here (the loaded model answers then)."""
    if model_id in MELODY_MODELS:
        return True
    if model_id in TINY_MODELS:
        return False
    folder = Path(model_id).expanduser()
    config: Path | None = folder / "config.json" if folder.is_dir() else None
    if config is None:
        from huggingface_hub import try_to_load_from_cache

        try:
            cached = try_to_load_from_cache(model_id, "config.json")
        except ValueError:  # not a hub id either
            return None
        config = Path(cached) if isinstance(cached, str) else None
    try:
        model_type = json.loads(config.read_text()).get("model_type") if config is not None else None
    except (OSError, ValueError, AttributeError):
        return None
    return None if model_type is None else model_type == MELODY_MODEL_TYPE


def hub_weights_cached(model_id: str) -> bool:
    """Whether a hub model's config and weights are in the local Hugging Face cache; `ConfigError`
    for a value that is neither a hub id nor an existing folder (e.g. a mistyped path)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        config = try_to_load_from_cache(model_id, "config.json")
    except ValueError as exc:  # huggingface_hub's HFValidationError: not a repo id
        raise ConfigError(
            f"model: {model_id!r} is neither a folder nor a Hugging Face model id ({exc})",
            "Give an existing model folder, a hub id such as facebook/musicgen-small, or tiny.",
        ) from exc
    if not isinstance(config, str):
        return False
    folder = Path(config).parent
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def _from_pretrained(source: str, local_only: bool, dtype: Any):
    """The model class by the checkpoint's `model_type`: "musicgen_melody" (the melody checkpoints,
    prefix conditioning) or MusicGen's."""
    from transformers import (
        AutoConfig,
        AutoTokenizer,
        MusicgenForConditionalGeneration,
        MusicgenMelodyForConditionalGeneration,
    )
    from transformers.utils import logging as hf_logging

    # MusicGen's pad id (2048) sits past the codebook vocabulary by design: silence that warning
    # and the per-tensor loading bar; real errors still raise.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    config = AutoConfig.from_pretrained(source, local_files_only=local_only)
    melody = config.model_type == MELODY_MODEL_TYPE
    model_class = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    model = model_class.from_pretrained(source, local_files_only=local_only, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    return model, tokenizer


def _chroma_settings(source: str, local_only: bool) -> ChromaSettings:
    """A melody checkpoint's preprocessor_config.json as `ChromaSettings`; the published melody
    checkpoints' settings (the defaults) where a local copy lacks the file."""
    from transformers.feature_extraction_utils import FeatureExtractionMixin

    from .chroma import ChromaSettings

    try:
        config, _ = FeatureExtractionMixin.get_feature_extractor_dict(source, local_files_only=local_only)
    except OSError as exc:
        logger.warning("melody model %s: no preprocessor_config.json (%s); using the melody defaults", source, exc)
        return ChromaSettings()
    return ChromaSettings.from_dict(config)


def network_allowed(allow_network: bool) -> bool:
    return allow_network and os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "", "false", "False")


def load_music_model(
    model_id: str | None = None,
    *,
    device: str | None = None,
    cache_dir: Path | None = None,
    allow_network: bool = True,
    dtype: str = "float32",
    precision: str = "fp32",
) -> MusicModel:
    """Load `model_id` ("tiny", "tiny-stereo", "tiny-melody", a local directory, or a hub id) ready for generation.

    `precision`: "fp32" (default here: transformers' numbers), "bf16", "int8" or "auto"
    (model/precision/; the CLI and the service default to "auto")."""
    import torch

    from .precision.choice import resolve_precision

    model_id = resolve_model_id(model_id)
    torch_dtype = getattr(torch, dtype)
    if model_id in TINY_MODELS:
        source = str(ensure_tiny_model(cache_dir or default_cache_dir(), model_id))
        local_only = True
    elif Path(model_id).expanduser().is_dir():
        source, local_only = str(Path(model_id).expanduser()), True
    else:
        source = model_id
        local_only = hub_weights_cached(model_id) or not network_allowed(allow_network)
    try:
        model, tokenizer = _from_pretrained(source, local_only, torch_dtype)
    except (OSError, ValueError) as exc:
        where = "the local cache (network not allowed)" if local_only else "the local cache or the hub"
        raise ModelLoadError(f"cannot load music model {model_id!r} from {where}: {exc}") from exc
    device = pick_device(device)
    model.to(device).eval()
    untrained = is_tiny_dir(Path(source)) if Path(source).is_dir() else False
    audio_cfg = model.config.audio_encoder
    chroma = _chroma_settings(source, local_only) if model.config.model_type == MELODY_MODEL_TYPE else None
    if untrained:
        logger.warning("model %r is the untrained tiny MusicGen: output is not music", model_id)
    return MusicModel(
        model=model,
        tokenizer=tokenizer,
        model_id=model_id,
        untrained=untrained,
        device=device,
        sample_rate=int(audio_cfg.sampling_rate),
        frame_rate=int(audio_cfg.frame_rate),
        num_codebooks=int(model.decoder.num_codebooks),
        revision=getattr(model.config, "_commit_hash", None),
        precision=resolve_precision(precision, device),
        auto_precision=precision == "auto",
        cache_dir=cache_dir or default_cache_dir(),
        chroma=chroma,
    )
