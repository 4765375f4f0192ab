"""The built-in tiny MusicGens: the real architecture with random weights, created offline.

`tiny` is mono (4 codebooks); `tiny-stereo` has the stereo checkpoints' layout (8 codebooks, left
and right interleaved, decoded by a mono EnCodec per channel); `tiny-melody` is the melody
checkpoints' architecture (`MusicgenMelodyForConditionalGeneration`: chroma + text states as a
decoder prefix, 12 chroma bins, 235 chroma frames) with their feature extractor's settings.

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
TINY_VERSION = 2
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


#: Names of the built-in tiny models -> audio channels.
#: The built-in mono tiny model's name (what `--model tiny` asks for).
TINY = "tiny"
#: The built-in tiny model of the melody checkpoints' architecture.
TINY_MELODY = "tiny-melody"
#: Built-in tiny models by name -> audio channels.
TINY_MODELS = {TINY: 1, "tiny-stereo": 2, TINY_MELODY: 1}
#: The melody checkpoints' chroma settings (facebook/musicgen-melody's preprocessor_config.json),
#: written by hand: transformers' MusicgenMelodyFeatureExtractor needs torchaudio to be built.
MELODY_PREPROCESSOR = {
    "feature_extractor_type": "MusicgenMelodyFeatureExtractor",
    "processor_class": "MusicgenMelodyProcessor",
    "feature_size": 12,
    "num_chroma": 12,
    "sampling_rate": 32000,
    "hop_length": 4096,
    "n_fft": 16384,
    "chunk_length": 30,
    "padding_side": "right",
    "padding_value": 0.0,
    "return_attention_mask": False,
    "stem_indices": [3, 2],
}


def tiny_model_dir(cache_dir: Path, name: str = "tiny") -> Path:
    return cache_dir / "models" / f"{name}-v{TINY_VERSION}"


def is_tiny_dir(path: Path) -> bool:
    """Whether a model directory holds the untrained tiny model."""
    return (Path(path) / MARKER_FILE).is_file()


def ensure_tiny_model(cache_dir: Path, name: str = "tiny") -> Path:
    """Return tiny model `name`'s directory, building and saving it on first use (atomically)."""
    target = tiny_model_dir(cache_dir, name)
    if is_tiny_dir(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("building the tiny untrained MusicGen %r in %s", name, target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".tiny-") as tmp:
        staging = Path(tmp) / "model"
        build_tiny_model(staging, audio_channels=TINY_MODELS[name], melody=name == TINY_MELODY)
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


def build_tiny_model(out_dir: Path, audio_channels: int = 1, melody: bool = False) -> None:
    """Build the tiny model + tokenizer deterministically and `save_pretrained` them to `out_dir`
    (`melody`: the melody architecture, with its feature extractor's settings)."""
    from .shapes import random_musicgen

    tokenizer = _train_tokenizer()
    model = random_musicgen(
        "tiny", text_vocab_size=len(tokenizer), seed=_SEED, audio_channels=audio_channels, melody=melody
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    if melody:
        (out_dir / "preprocessor_config.json").write_text(json.dumps(MELODY_PREPROCESSOR, indent=2))
    (out_dir / MARKER_FILE).write_text(
        json.dumps(
            {
                "untrained": True,
                "tiny_version": TINY_VERSION,
                "seed": _SEED,
                "audio_channels": audio_channels,
                "melody": melody,
                "note": "random weights: for tests and smoke runs only, not music",
            },
            indent=2,
        )
    )
