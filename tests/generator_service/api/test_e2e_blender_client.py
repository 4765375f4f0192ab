"""The Blender extension's own HTTP client (expotion_blender/client.py, standard library only) against a
real `serve` process: the API stays what the extension speaks (uploads, path mode, analyze, errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from expotion_blender.client import Client, ClientSettings, ServiceError
from expotion_protocol.params import JobParams
from expotion_protocol.wire import read_wav_info

pytestmark = pytest.mark.slow


def test_the_extension_client_uploads_waits_downloads_and_analyzes(server_factory, clip, media, tmp_path: Path) -> None:
    server = server_factory(None, "--media-root", str(media))
    client = Client(ClientSettings(base_url=server.url, poll_interval_s=0.05, timeout_s=30, job_timeout_s=120))
    assert client.health().path_mode is True
    uploaded = client.submit(JobParams(prompt="contract", seed=4, duration=0.5), str(clip))
    by_path = client.submit(JobParams(seed=5, start=0.25, end=0.75, path=str(clip)))
    for job_id in (uploaded, by_path):
        result = client.wait(job_id)
        assert result.num_samples == 16000 and result.untrained
        client.download(job_id, 0, str(tmp_path / f"{job_id}.wav"))
        assert read_wav_info(str(tmp_path / f"{job_id}.wav")).num_samples == 16000
    analysis = client.analyze(JobParams(end=1.0), str(clip))
    assert analysis["suggested_prompt"] and analysis["person"]["coverage"] > 0.5
    with pytest.raises(ServiceError) as bad:
        client.submit(JobParams(duration=5.0), str(clip))
    assert bad.value.status == 422 and "past the clip end" in bad.value.message and bad.value.hint


def test_the_extension_client_sends_a_melody_as_an_upload_or_by_path(server_factory, clip, media) -> None:
    """`Client.submit(melody_path=)` (the `melody` part) and `params.melody_path` against a real
    `serve --model tiny-melody`: exact length, the result's `melody` block read by the client."""
    import numpy as np
    import soundfile as sf

    temp = media / "temp-melody.wav"
    sf.write(temp, (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(44100) / 44100)).astype(np.float32), 44100)
    server = server_factory(None, "--model", "tiny-melody", "--media-root", str(media))
    client = Client(ClientSettings(base_url=server.url, poll_interval_s=0.05, timeout_s=30, job_timeout_s=180))
    uploaded = client.submit(JobParams(seed=1, duration=0.5, melody_start=0.25, beat_lock="off"), str(clip), str(temp))
    by_path = client.submit(JobParams(seed=2, duration=0.5, path=str(clip), melody_path=str(temp), beat_lock="off"))
    for job_id, start in ((uploaded, 0.25), (by_path, 0.0)):
        result = client.wait(job_id)
        assert result.num_samples == 16000 and result.melody is not None
        assert result.melody["start"] == start and isinstance(result.melody["follows"], bool)
    with pytest.raises(ServiceError) as bad:
        client.submit(JobParams(duration=0.5, melody_start=1.0), str(clip))
    assert bad.value.status == 422 and "melody_start" in bad.value.message and bad.value.hint
