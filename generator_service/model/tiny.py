"""The built-in tiny MusicGen: the real architecture with random weights, created offline.

For tests and smoke runs only: it has never heard music, so what it makes is noise-like. Every
output made with it is labelled untrained (see `MARKER_FILE`). It is built deterministically
(fixed seed, fixed tokenizer corpus), saved with `save_pretrained` into the cache dir on first use
and loaded from there with the same `from_pretrained` code path users' local models take.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

#: Bump when the tiny model's shape or construction changes (the cache dir is versioned by it).
TINY_VERSION = 1
#: A file in a model directory that marks it as the untrained tiny model.
MARKER_FILE = "expotion_tiny.json"
_SEED = 20250704
_VOCAB = 384

_CORPUS = """
upbeat energetic pop track with drums bass and synth, 120 bpm, happy and bright
calm ambient piano with soft pads, slow tempo, peaceful, gentle, warm
dark cinematic orchestral score with strings and brass, tense and dramatic
lo-fi hip hop beat with vinyl crackle, relaxed, mellow chords, 85 bpm
fast electronic dance music, four on the floor kick, euphoric lead, 128 bpm
acoustic folk guitar with light percussion, sunny, cheerful, medium tempo
sad melancholic cello solo, slow, minor key, emotional, intimate
funky groove with slap bass, brass stabs and tight drums, playful, 105 bpm
epic trailer music with choir and taiko drums, powerful, rising energy
jazz trio with brushed drums, upright bass and piano, smooth, late night
rock song with distorted guitars and loud drums, aggressive, driving
dreamy synthwave with arpeggios, nostalgic, neon, steady beat
marching band, playful, bouncy, cheerful, light, fast, slow, soft, loud
"""


def tiny_model_dir(cache_dir: Path) -> Path:
    return cache_dir / "models" / f"tiny-v{TINY_VERSION}"


def is_tiny_dir(path: Path) -> bool:
    """Whether a model directory holds the untrained tiny model."""
    return (Path(path) / MARKER_FILE).is_file()


def ensure_tiny_model(cache_dir: Path) -> Path:
    """Return the tiny model's directory, building and saving it on first use (atomically)."""
    target = tiny_model_dir(cache_dir)
    if is_tiny_dir(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("building the tiny untrained MusicGen in %s", target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".tiny-") as tmp:
        staging = Path(tmp) / "model"
        build_tiny_model(staging)
        try:
            os.replace(staging, target)
        except OSError:
            if not is_tiny_dir(target):  # nobody else won the race: a real failure
                raise
    return target


def _train_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=_VOCAB, special_tokens=["<pad>", "</s>", "<unk>"], show_progress=False)
    lines = [line.strip() for line in _CORPUS.strip().splitlines()]
    tok.train_from_iterator(lines, trainer=trainer)
    from tokenizers import decoders, processors

    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=256
    )


def _configs(vocab_size: int):
    from transformers import EncodecConfig, MusicgenConfig, MusicgenDecoderConfig, T5Config

    text = T5Config(
        vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    # The 32 kHz EnCodec of MusicGen, narrowed: same strides (640 -> 50 Hz), 4 codebooks of 2048.
    audio = EncodecConfig(
        sampling_rate=32000, audio_channels=1, normalize=False, chunk_length_s=None, overlap=None,
        hidden_size=32, num_filters=8, num_residual_layers=1, upsampling_ratios=[8, 5, 4, 4],
        norm_type="weight_norm", kernel_size=7, last_kernel_size=7, residual_kernel_size=3,
        dilation_growth_rate=2, use_causal_conv=False, pad_mode="reflect", compress=2,
        num_lstm_layers=2, trim_right_ratio=1.0, codebook_size=2048, codebook_dim=32,
        use_conv_shortcut=False, target_bandwidths=[2.2],
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=2048, num_codebooks=4, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        ffn_dim=128, max_position_embeddings=2048, audio_channels=1,
        pad_token_id=2048, bos_token_id=2048, decoder_start_token_id=2048,
    )
    return MusicgenConfig(text_encoder=text, audio_encoder=audio, decoder=decoder)


def build_tiny_model(out_dir: Path) -> None:
    """Build the tiny model + tokenizer deterministically and `save_pretrained` them to `out_dir`."""
    import torch
    from transformers import MusicgenForConditionalGeneration

    tokenizer = _train_tokenizer()
    config = _configs(len(tokenizer))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        model = MusicgenForConditionalGeneration(config)
        # A random-init EnCodec has all-zero codebooks (every code decodes alike): fill them.
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_(0.0, 1.0)
    gen = model.generation_config
    gen.do_sample, gen.top_k, gen.guidance_scale, gen.max_length = True, 250, 3.0, 1503
    gen.pad_token_id = gen.decoder_start_token_id = gen.bos_token_id = 2048
    model.config.decoder.pad_token_id = 2048
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / MARKER_FILE).write_text(
        json.dumps(
            {"untrained": True, "tiny_version": TINY_VERSION, "seed": _SEED,
             "note": "random weights: for tests and smoke runs only, not music"},
            indent=2,
        )
    )
