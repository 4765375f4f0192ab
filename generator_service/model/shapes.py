"""MusicGen configurations by size: the real shapes (for benchmarks and parameter counts, with
random weights) and the built-in tiny one. Offline: no hub access needed to build any of them."""

from __future__ import annotations

from typing import Any

#: Decoder (hidden, layers, heads, ffn) of the published MusicGen sizes, and of our tiny model.
DECODER_SHAPES = {
    "tiny": (64, 2, 4, 128),
    "small": (1024, 24, 16, 4096),
    "medium": (1536, 48, 24, 6144),
    "large": (2048, 48, 32, 8192),
}


def _text_config(size: str, vocab_size: int) -> Any:
    from transformers import T5Config

    if size == "tiny":
        return T5Config(
            vocab_size=vocab_size,
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    # MusicGen's text encoder is t5-base.
    return T5Config(
        vocab_size=vocab_size,
        d_model=768,
        d_kv=64,
        d_ff=3072,
        num_layers=12,
        num_heads=12,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )


def _audio_config(size: str) -> Any:
    from transformers import EncodecConfig

    hidden, filters = (32, 8) if size == "tiny" else (128, 64)
    # The 32 kHz EnCodec of MusicGen: strides 8*5*4*4 = 640 -> 50 Hz, 4 codebooks of 2048.
    return EncodecConfig(
        sampling_rate=32000,
        audio_channels=1,
        normalize=False,
        chunk_length_s=None,
        overlap=None,
        hidden_size=hidden,
        num_filters=filters,
        num_residual_layers=1,
        upsampling_ratios=[8, 5, 4, 4],
        norm_type="weight_norm",
        kernel_size=7,
        last_kernel_size=7,
        residual_kernel_size=3,
        dilation_growth_rate=2,
        use_causal_conv=False,
        pad_mode="reflect",
        compress=2,
        num_lstm_layers=2,
        trim_right_ratio=1.0,
        codebook_size=2048,
        codebook_dim=hidden,
        use_conv_shortcut=False,
        target_bandwidths=[2.2],
    )


def decoder_config(size: str, audio_channels: int = 1, layers: int | None = None, melody: bool = False) -> Any:
    """A `MusicgenDecoderConfig` of `size` in DECODER_SHAPES (`layers` overrides the depth);
    `audio_channels=2` is the stereo checkpoints' layout: 8 codebooks, left/right interleaved;
    `melody`: the melody checkpoints' `MusicgenMelodyDecoderConfig` (prefix conditioning)."""
    from transformers import MusicgenDecoderConfig, MusicgenMelodyDecoderConfig

    hidden, depth, heads, ffn = DECODER_SHAPES[size]
    # transformers initialises with std 0.02, made for wide models: at width 64 the tiny decoder's
    # signals (and logits, capped near 1) would vanish, and nothing could ever learn to steer it.
    # 1.2 / sqrt(width) keeps activations and logits at a trained model's scale.
    init = 1.2 / hidden**0.5 if size == "tiny" else 0.02
    config_class = MusicgenMelodyDecoderConfig if melody else MusicgenDecoderConfig
    return config_class(
        initializer_factor=init,
        vocab_size=2048,
        num_codebooks=4 * audio_channels,
        hidden_size=hidden,
        num_hidden_layers=layers or depth,
        num_attention_heads=heads,
        ffn_dim=ffn,
        max_position_embeddings=2048,
        audio_channels=audio_channels,
        pad_token_id=2048,
        bos_token_id=2048,
        decoder_start_token_id=2048,
    )


def musicgen_config(size: str, text_vocab_size: int = 32128, audio_channels: int = 1) -> Any:
    """A `MusicgenConfig` of `size` in DECODER_SHAPES; `audio_channels=2` is the stereo checkpoints'
    layout: 8 codebooks (left/right interleaved), the same mono EnCodec decoding each channel."""
    from transformers import MusicgenConfig

    return MusicgenConfig(
        text_encoder=_text_config(size, text_vocab_size),
        audio_encoder=_audio_config(size),
        decoder=decoder_config(size, audio_channels),
    )


def melody_config(size: str, text_vocab_size: int = 32128, audio_channels: int = 1) -> Any:
    """A `MusicgenMelodyConfig` of `size`: the melody checkpoints' chroma settings (12 bins, at most
    235 chroma frames: 30 s at 32000 / 4096 Hz), decoder with prefix conditioning."""
    from transformers import MusicgenMelodyConfig

    return MusicgenMelodyConfig(
        text_encoder=_text_config(size, text_vocab_size),
        audio_encoder=_audio_config(size),
        decoder=decoder_config(size, audio_channels, melody=True),
        num_chroma=12,
        chroma_length=235,
    )


def random_decoder(
    size: str, layers: int | None = None, seed: int = 0, audio_channels: int = 1, melody: bool = False
) -> Any:
    """A randomly initialised transformers `MusicgenForCausalLM` of `size` (`layers` overrides the
    depth; `melody`: `MusicgenMelodyForCausalLM`): the decoder alone, for parity tests and step benchmarks."""
    import torch
    from transformers import MusicgenForCausalLM, MusicgenMelodyForCausalLM

    model_class = MusicgenMelodyForCausalLM if melody else MusicgenForCausalLM
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        return model_class(decoder_config(size, audio_channels, layers, melody)).eval()


def random_musicgen(
    size: str, text_vocab_size: int = 32128, seed: int = 0, audio_channels: int = 1, melody: bool = False
) -> Any:
    """A randomly initialised MusicgenForConditionalGeneration of `size` (codebooks filled);
    `melody`: a MusicgenMelodyForConditionalGeneration (chroma + text prefix conditioning)."""
    import torch
    from transformers import MusicgenForConditionalGeneration, MusicgenMelodyForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # pad id 2048 past the vocabulary is MusicGen's design

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        if melody:
            model = MusicgenMelodyForConditionalGeneration(melody_config(size, text_vocab_size, audio_channels))
        else:
            model = MusicgenForConditionalGeneration(musicgen_config(size, text_vocab_size, audio_channels))
        # A random-init EnCodec has all-zero codebooks (every code decodes alike): fill them, at
        # the scale of the random encoder's output (std ~0.05) so that audio encodes to varied codes.
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_(0.0, 0.05)
    gen = model.generation_config
    gen.do_sample, gen.top_k, gen.guidance_scale, gen.max_length = True, 250, 3.0, 1503
    gen.pad_token_id = gen.decoder_start_token_id = gen.bos_token_id = 2048
    return model.eval()
