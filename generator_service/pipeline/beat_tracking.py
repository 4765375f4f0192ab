"""Loudness, onset strength, onsets, tempo and beats of mono audio, in numpy: the algorithms of
librosa 0.11's `feature.rms`, `onset.onset_strength`, `onset.onset_detect`, `feature.tempo` and
`beat.beat_track` at their defaults, owned here.

Why owned: librosa's versions import numba and compile on first use (`beat_track`'s local score is
compiled in every process, `cache=False`): 3.5 s per process with numba's cache warm, 19 s cold, on
this project's 2-core machine, which every CLI run with the beat lock paid before its first take.
These take milliseconds and import nothing but numpy. librosa stays the reference: a parity test
(tests/generator_service/pipeline/test_beat_tracking.py) compares every function with librosa's on
real and synthetic music.

Conventions (librosa's): frames of `hop` samples, frame i centred on sample i * hop (the signal is
zero-padded by n_fft // 2 on both sides); times are frames * hop / sr. Float64 throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: librosa's defaults that the music analysis uses.
N_FFT = 2048
N_MELS = 128
#: Beat tracking: the tempo prior's centre (BPM) and width (octaves), the highest tempo, the
#: autocorrelation window (seconds) and how tightly beats follow the tempo.
START_BPM = 120.0
STD_BPM = 1.0
MAX_TEMPO = 320.0
AC_SIZE_S = 8.0
TIGHTNESS = 100.0
#: Onset peak picking (librosa's "large-scale search" values): windows in seconds, threshold.
PRE_MAX_S, POST_MAX_S, PRE_AVG_S, POST_AVG_S, WAIT_S = 0.03, 0.0, 0.10, 0.10, 0.03
DELTA = 0.07
_TINY = float(np.finfo(np.float64).tiny)


def _frames(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Frames [F, n_fft] of `y` zero-padded by n_fft // 2 on both sides (views, no copy)."""
    padded = np.pad(y, n_fft // 2)
    n = 1 + (padded.size - n_fft) // hop
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft)[: n * hop : hop]


def rms(y: np.ndarray, frame_length: int = N_FFT, hop: int = 512) -> np.ndarray:
    """RMS [F] of `y` [S] per frame (librosa.feature.rms, centred, zero padding)."""
    frames = _frames(np.asarray(y, dtype=np.float64), frame_length, hop)
    return np.sqrt(np.mean(frames**2, axis=1))


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def mel_filters(sr: int, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Mel filterbank [n_mels, n_fft // 2 + 1] from 0 Hz to sr / 2, Slaney-normalised (librosa.filters.mel)."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sr / 2.0)), n_mels + 2))
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]


def onset_strength(y: np.ndarray, sr: int, hop: int = 512) -> np.ndarray:
    """Onset strength [F] (librosa.onset.onset_strength): the mean over 128 mel bands of the
    positive frame-to-frame rise of the log-power mel spectrogram (80 dB range), shifted by
    n_fft / (2 hop) + 1 frames to counter framing."""
    frames = _frames(np.asarray(y, dtype=np.float64), N_FFT, hop)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    mel = power @ mel_filters(sr).T  # [F, n_mels]
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    rise = np.maximum(0.0, db[1:] - db[:-1]).mean(axis=1)
    shift = 1 + N_FFT // (2 * hop)
    return np.r_[np.zeros(shift), rise][: db.shape[0]]


def onset_detect(envelope: np.ndarray, sr: int, hop: int = 512) -> np.ndarray:
    """Onset frames [O] of an onset envelope (librosa.onset.onset_detect): peaks of the envelope
    scaled to [0, 1] that are the maximum of their 30 ms and clear their 100 ms mean by `DELTA`,
    at least 30 ms apart."""
    x = np.asarray(envelope, dtype=np.float64)
    x = x - x.min(initial=0.0) if x.size else x
    if x.size == 0:
        return np.zeros(0, dtype=np.int64)
    x = x / (x.max() + _TINY)
    if not x.any() or not np.all(np.isfinite(x)):
        return np.zeros(0, dtype=np.int64)

    def frames(seconds: float, extra: int = 0) -> int:
        return int(np.ceil(seconds * sr // hop + extra))

    pre_max, post_max = frames(PRE_MAX_S), frames(POST_MAX_S, 1)
    pre_avg, post_avg, wait = frames(PRE_AVG_S), frames(POST_AVG_S, 1), frames(WAIT_S)
    delta = float(np.float32(DELTA))  # librosa passes it to its compiled loop as float32
    n_x = x.size
    peaks: list[int] = []
    if x[0] >= x[: min(post_max, n_x)].max() and x[0] >= x[: min(post_avg, n_x)].mean() + delta:
        peaks.append(0)
        n = wait + 1
    else:
        n = 1
    while n < n_x:
        if x[n] == x[max(0, n - pre_max) : min(n + post_max, n_x)].max() and (
            x[n] >= x[max(0, n - pre_avg) : min(n + post_avg, n_x)].mean() + delta
        ):
            peaks.append(n)
            n += wait + 1
        else:
            n += 1
    return np.asarray(peaks, dtype=np.int64)


def tempo(envelope: np.ndarray, sr: int, hop: int = 512) -> float:
    """Global tempo in BPM (librosa.feature.tempo): the peak of the mean autocorrelation tempogram
    (8 s Hann windows) weighted by a log-normal prior around `START_BPM`, below `MAX_TEMPO`."""
    env = np.asarray(envelope, dtype=np.float64)
    win = int(np.floor(AC_SIZE_S * sr / hop))
    n = env.size
    padded = np.pad(env, win // 2, mode="linear_ramp", end_values=(0, 0))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[:n]  # [n, win]
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(win) / win)
    n_pad = 2 * win - 1
    spec = np.abs(np.fft.rfft(frames * hann, n=n_pad, axis=1)) ** 2
    ac = np.fft.irfft(spec, n=n_pad, axis=1)[:, :win]
    peak = np.abs(ac).max(axis=1, keepdims=True)
    ac = ac / np.where(peak < _TINY, 1.0, peak)
    tg = ac.mean(axis=0)
    with np.errstate(divide="ignore"):
        bpms = np.r_[np.inf, 60.0 * sr / (hop * np.arange(1.0, win))]
        logprior = -0.5 * ((np.log2(bpms) - np.log2(START_BPM)) / STD_BPM) ** 2
    logprior[: int(np.argmax(bpms < MAX_TEMPO))] = -np.inf
    return float(bpms[int(np.argmax(np.log1p(1e6 * tg) + logprior))])


@dataclass(frozen=True)
class Beats:
    """Beat frames [B] and the tempo (BPM) they follow; no beats and tempo 0 for an empty envelope."""

    frames: np.ndarray
    tempo_bpm: float


def beat_track(envelope: np.ndarray, sr: int, hop: int = 512) -> Beats:
    """Beats of an onset envelope (librosa.beat.beat_track, Ellis 2007): dynamic programming over
    the envelope smoothed at the tempo's period, each beat one period after the last (log-squared
    penalty x `TIGHTNESS`), weak beats at both ends trimmed."""
    env = np.asarray(envelope, dtype=np.float64)
    if env.size < 3 or not env.any():
        return Beats(np.zeros(0, dtype=np.int64), 0.0)
    bpm = tempo(env, sr, hop)
    fpb = float(np.round(sr / hop * 60.0 / bpm))
    local = _local_score(env / (env.std(ddof=1) + _TINY), fpb)
    backlink, cumscore = _dp(local, fpb)
    beats = np.zeros(env.size, dtype=bool)
    k = _last_beat(cumscore)
    while k >= 0:
        beats[k] = True
        k = int(backlink[k])
    return Beats(np.flatnonzero(_trim(local, beats)), bpm)


def _local_score(env: np.ndarray, fpb: float) -> np.ndarray:
    """The envelope convolved ('same') with a Gaussian of +-fpb frames; like librosa's loop, the
    envelope's first frame never contributes."""
    window = np.exp(-0.5 * (np.arange(-fpb, fpb + 1) * 32.0 / fpb) ** 2)
    x = env.copy()
    x[0] = 0.0
    full = np.convolve(x, window)
    start = (window.size - 1) // 2
    return full[start : start + x.size]


def _dp(local: np.ndarray, fpb: float) -> tuple[np.ndarray, np.ndarray]:
    """(backlink [F] (-1: none), cumulative score [F]): each frame's best predecessor between
    fpb / 2 and 2 fpb frames before it."""
    n = local.size
    backlink = np.full(n, -1, dtype=np.int64)
    cumscore = np.empty(n)
    threshold = 0.01 * local.max()
    near, far = int(np.round(fpb / 2)), int(2 * fpb)
    gaps = np.arange(near, far + 1)  # nearest predecessor first, like librosa's search
    penalty = TIGHTNESS * (np.log(np.maximum(gaps, 1)) - np.log(fpb)) ** 2
    first_beat = True
    for i in range(n):
        ok = gaps <= i
        if ok.any():
            scores = cumscore[i - gaps[ok]] - penalty[ok]
            k = int(np.argmax(scores))
            cumscore[i] = local[i] + scores[k]
            loc = i - int(gaps[ok][k])
        else:
            cumscore[i], loc = local[i], -1
        if first_beat and local[i] < threshold:
            backlink[i] = -1
        else:
            backlink[i] = loc
            first_beat = False
    return backlink, cumscore


def _last_beat(cumscore: np.ndarray) -> int:
    """The last local maximum of the cumulative score above half the maxima's median."""
    lmax = np.zeros(cumscore.size, dtype=bool)
    lmax[1:-1] = (cumscore[1:-1] > cumscore[:-2]) & (cumscore[1:-1] >= cumscore[2:])
    lmax[-1] = cumscore[-1] > cumscore[-2]
    if not lmax.any():
        return cumscore.size - 1
    threshold = 0.5 * float(np.median(cumscore[lmax]))
    found = np.flatnonzero(lmax & (cumscore >= threshold))
    return int(found[-1]) if found.size else cumscore.size - 1


def _trim(local: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Drop beats at both ends where the local score is at most half the RMS of the beats' smoothed score."""
    out = beats.copy()
    w = np.hanning(5)
    smooth = np.convolve(local[beats], w)[len(w) // 2 : local.size + len(w) // 2]
    threshold = 0.5 * float(np.sqrt(np.mean(smooth**2))) if smooth.size else 0.0
    n = 0
    while n < local.size and local[n] <= threshold:
        out[n] = False
        n += 1
    n = local.size - 1
    while n >= 0 and local[n] <= threshold:
        out[n] = False
        n -= 1
    return out
