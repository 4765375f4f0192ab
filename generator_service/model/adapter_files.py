"""Adapter directories: create, attach, save and load an Expotion adapter (with optional LoRA).

A directory holds `expotion_config.json` (base model id, feature spec and fps, window, latent_dim,
LoRA settings, training summary), `expotion_adapter.safetensors` (the adapter's weights) and, when
LoRA is on, peft's own `adapter_config.json` + `adapter_model.safetensors` (keys named as in
transformers' MusicgenForCausalLM, `model.decoder.layers.N.self_attn.q_proj...`, so directories
written before our own decoder load unchanged). Loading checks that the base model and the feature
spec match and says precisely what differs. LoRA is injected by peft into our decoder's unfused
q/v projections (training); generation merges it into the packed weights (model/packed.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from expotion_protocol.features import FEATURE_SPEC

from .. import __version__
from ..errors import ConfigError, ModelLoadError
from .adapter import AdapterConfig, AttachedAdapter, ExpotionAdapter
from .decoder import hf_key, our_key
from .loading import MusicModel

if TYPE_CHECKING:
    from .adapter_runner import AdapterRunner

logger = logging.getLogger(__name__)

CONFIG_FILE = "expotion_config.json"
WEIGHTS_FILE = "expotion_adapter.safetensors"
LORA_PATTERN = r".*self_attn\.({targets})$"


@dataclass
class LoadedAdapter:
    """An adapter attached to a loaded MusicModel; `runner(...)` is the conditioning seam."""

    name: str
    config: AdapterConfig
    attached: AttachedAdapter
    base_model: str
    base_revision: str | None = None
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> ExpotionAdapter:
        return self.attached.adapter

    def runner(
        self, music: MusicModel, condition: np.ndarray | torch.Tensor, *, batch: int, blocks: tuple[str, ...]
    ) -> AdapterRunner:
        """The generation condition of a clip: `condition` [T, F] at the codec frame rate (frame s of
        the clip is window position s); `blocks` from pipeline/generate.py `guidance_blocks`."""
        from .adapter_runner import AdapterRunner

        values = torch.as_tensor(condition, dtype=torch.float32, device=music.device)
        return AdapterRunner(self.attached, values, batch=batch, blocks=blocks)


def _lora_config(config: AdapterConfig):
    from peft import LoraConfig

    targets = "|".join(config.lora_targets)
    return LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.0,
        target_modules=LORA_PATTERN.format(targets=targets),
    )


def create_adapter(music: MusicModel, config: AdapterConfig) -> LoadedAdapter:
    """A fresh adapter (zero gates; LoRA B = 0) attached to `music`'s decoder."""
    decoder = music.decoder
    spec = decoder.spec
    if config.lora_rank:
        from peft import inject_adapter_in_model

        inject_adapter_in_model(_lora_config(config), decoder)
    adapter = ExpotionAdapter(
        config, spec.layers, spec.hidden, config.max_positions(music.frame_rate, music.num_codebooks)
    ).to(music.device)
    return LoadedAdapter(
        name="new",
        config=config,
        attached=AttachedAdapter(decoder, adapter),
        base_model=music.model_id,
        base_revision=music.revision,
    )


def trainable_parameters(loaded: LoadedAdapter) -> list[torch.nn.Parameter]:
    """The adapter's parameters plus LoRA's (everything else stays frozen)."""
    params = list(loaded.module.parameters())
    params += [p for n, p in loaded.attached.decoder.named_parameters() if "lora_" in n]
    return params


def save_adapter(loaded: LoadedAdapter, out_dir: Path, training: dict[str, Any] | None = None) -> Path:
    """Write the adapter directory (see module docstring)."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in loaded.module.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS_FILE))
    if loaded.config.lora_rank:
        from peft import get_peft_model_state_dict

        lora = get_peft_model_state_dict(loaded.attached.decoder)
        save_file(
            {hf_key(k): v.detach().cpu().contiguous() for k, v in lora.items()},
            str(out_dir / "adapter_model.safetensors"),
        )
        _lora_config(loaded.config).save_pretrained(str(out_dir))
    meta = {
        "format": "expotion-adapter",
        "format_version": 1,
        "expotion_version": __version__,
        "base_model": loaded.base_model,
        "base_revision": loaded.base_revision,
        "base_shape": _base_shape(loaded.attached.decoder.spec),
        "adapter": loaded.config.to_dict(),
        "training": training or loaded.training,
    }
    (out_dir / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    return out_dir


def _base_shape(spec: Any) -> dict[str, int]:
    return {"hidden_size": spec.hidden, "num_hidden_layers": spec.layers, "num_codebooks": spec.num_codebooks}


def _check_compatible(
    meta: dict[str, Any], music: MusicModel, path: Path, expected_spec: tuple[str, int, float]
) -> None:
    shape = _base_shape(music.decoder.spec)
    problems = []
    if meta.get("base_model") != music.model_id:
        problems.append(
            f"base model: adapter trained on {meta.get('base_model')!r}, loaded model is {music.model_id!r}"
        )
    if meta.get("base_shape") != shape:
        problems.append(f"base shape: adapter expects {meta.get('base_shape')}, model has {shape}")
    cfg = meta.get("adapter", {})
    have = (cfg.get("feature_spec"), cfg.get("feature_version"), cfg.get("feature_fps"))
    if have != expected_spec:
        problems.append(f"feature spec: adapter uses {have}, this service extracts {expected_spec}")
    if meta.get("base_revision") and music.revision and meta["base_revision"] != music.revision:
        logger.warning(
            "adapter %s was trained on %s revision %s; loaded revision is %s",
            path,
            meta.get("base_model"),
            meta["base_revision"],
            music.revision,
        )
    if problems:
        raise ConfigError(
            f"adapter {path} does not fit: " + "; ".join(problems),
            hint="Load the base model the adapter was trained on, or train an adapter for this one.",
        )


def load_adapter(path: Path, music: MusicModel, expected_spec: tuple[str, int, float] | None = None) -> LoadedAdapter:
    """Load an adapter directory onto `music` (checked: base model, shape, feature spec)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise ModelLoadError(
            f"{path} is not an Expotion adapter directory (no {CONFIG_FILE})",
            hint="Pass the directory written by `train --out`.",
        )
    try:
        meta = json.loads((path / CONFIG_FILE).read_text())
        config = AdapterConfig.from_dict(meta["adapter"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{path / CONFIG_FILE} is unreadable: {exc}") from exc
    if expected_spec is None:
        expected_spec = (FEATURE_SPEC.name, FEATURE_SPEC.version, config.feature_fps)
    _check_compatible(meta, music, path, expected_spec)
    loaded = create_adapter(music, config)
    loaded.module.load_state_dict(load_file(str(path / WEIGHTS_FILE), device=music.device))
    if config.lora_rank:
        from peft import set_peft_model_state_dict

        lora = load_file(str(path / "adapter_model.safetensors"), device=music.device)
        # adapters saved before 0.2 wrapped the attention module ("self_attn.base.q_proj")
        lora = {our_key(k.replace(".self_attn.base.", ".self_attn.")): v for k, v in lora.items()}
        set_peft_model_state_dict(loaded.attached.decoder, lora)
    loaded.name, loaded.base_model, loaded.training = path.name, meta["base_model"], meta.get("training", {})
    return loaded
