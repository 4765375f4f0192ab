"""wavfile.py without bpy: 16-bit PCM takes are rewritten as 24-bit, sample for sample."""

from __future__ import annotations

import array
import sys
import wave
from typing import Any

import pytest

from expotion_blender.wavfile import widen_to_24bit


def write(path, samples: list[int], width: int = 2, channels: int = 1, rate: int = 32000) -> str:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(array.array("h", samples).tobytes() if width == 2 else bytes(len(samples) * width))
    return str(path)


def read24(path: str) -> tuple[Any, list[int]]:
    with wave.open(path, "rb") as w:
        params, data = w.getparams(), w.readframes(w.getnframes())
    return params, [int.from_bytes(data[i : i + 3], "little", signed=True) for i in range(0, len(data), 3)]


@pytest.mark.skipif(sys.byteorder != "little", reason="array('h') writes native order")
@pytest.mark.parametrize("channels", [1, 2])
def test_16bit_becomes_24bit_sample_for_sample(tmp_path, channels):
    samples = [0, 1, -1, 32767, -32768, 1234, -4321, 7]
    path = write(tmp_path / "take.wav", samples, channels=channels)
    assert widen_to_24bit(path) is True
    params, wide = read24(path)
    assert (params.sampwidth, params.nchannels, params.framerate) == (3, channels, 32000)
    assert params.nframes == len(samples) // channels
    assert wide == [s * 256 for s in samples]
    assert [p.name for p in tmp_path.iterdir()] == ["take.wav"]  # no temporary file left


def test_other_widths_are_left_alone(tmp_path):
    path = write(tmp_path / "take.wav", [0] * 6, width=3)
    before = open(path, "rb").read()
    assert widen_to_24bit(path) is False
    assert open(path, "rb").read() == before


def test_not_a_wav_raises_and_keeps_the_file(tmp_path):
    path = tmp_path / "take.wav"
    path.write_bytes(b"not a wav at all")
    with pytest.raises((wave.Error, EOFError)):
        widen_to_24bit(str(path))
    assert path.read_bytes() == b"not a wav at all"
