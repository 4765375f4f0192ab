"""The on-disk sample format of the takes Blender loads: 16-bit PCM WAVs are rewritten as 24-bit.

Why: Blender reads sound files through FFmpeg, whose WAV reader probes 16-bit PCM for S/PDIF or DTS
data hidden in it. That probe makes `strips.new_sound` take ~15 ms of main-thread time per strip
(Blender 5.0.1 and 5.2.3, 32 kHz mono, whatever the length past ~2 s); for 24-bit, 32-bit or float
PCM the same call takes ~0.7 ms. Widening is lossless (each sample x 256, the same number of
samples), done on the worker thread after the download. Imports no `bpy`.
"""

from __future__ import annotations

import os
import wave


def widen_to_24bit(path: str) -> bool:
    """Rewrite a 16-bit PCM WAV at `path` as 24-bit PCM (atomically); False if it was not 16-bit.

    Raises `wave.Error`/`EOFError` for a file that is not a PCM WAV and `OSError` for I/O errors;
    the file is then unchanged.
    """
    with wave.open(path, "rb") as src:
        if src.getsampwidth() != 2:
            return False
        params = src.getparams()
        data = src.readframes(params.nframes)
    wide = bytearray(len(data) // 2 * 3)  # little-endian: a zero low byte, then the 16-bit sample
    wide[1::3] = data[0::2]
    wide[2::3] = data[1::2]
    tmp = path + ".24bit"
    try:
        with wave.open(tmp, "wb") as dst:
            dst.setnchannels(params.nchannels)
            dst.setsampwidth(3)
            dst.setframerate(params.framerate)
            dst.writeframes(wide)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return True
