"""The protocol package as the extension uses it: validation messages, JSON shapes, multipart, SSE, WAV header."""

from __future__ import annotations

import email.parser
import email.policy
import json
import wave

import pytest

from expotion_protocol.errors import ProtocolError
from expotion_protocol.params import JobParams
from expotion_protocol.shapes import ErrorBody, Health, JobResult, JobStatus, expected_samples
from expotion_protocol.wire import job_form, parse_sse, read_wav_info


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("variants", 9, "variants: 9 must be <= 8"),
        ("variants", 0, "variants: 0 must be >= 1"),
        ("start", -1.0, "start: -1.0 must be >= 0"),
        ("duration", 0.0, "duration: 0.0 must be > 0"),
        ("guidance", -0.1, "guidance"),
        ("seed", 2**31, "seed"),
    ],
)
def test_params_validation_names_the_field(field, value, words):
    with pytest.raises(ProtocolError, match=words):
        JobParams(**{field: value}).to_json()


def test_params_json_has_every_contract_field():
    data = JobParams(prompt="p", start=1.5, duration=2.0, path="/m.mp4").to_json()
    assert set(data) == {
        "prompt",
        "auto_prompt",
        "start",
        "end",
        "duration",
        "seed",
        "variants",
        "top_k",
        "temperature",
        "guidance",
        "adapter",
        "path",
    }
    assert data["end"] is None and data["duration"] == 2.0


def test_expected_samples_ntsc():
    assert expected_samples(76 * 1.001 / 30) == 81148
    assert expected_samples(7.37) == 235840


def test_status_parsing_and_errors():
    status = JobStatus.from_json(
        {
            "id": "j-1",
            "status": "succeeded",
            "progress": 1.4,
            "result": {
                "takes": 2,
                "sample_rate": 32000,
                "num_samples": 10,
                "duration_s": 0.0003,
                "seeds": [1, 2],
                "visual": "null",
            },
        }
    )
    assert status.finished and status.progress == 1.0 and status.outcome.seeds == (1, 2)
    with pytest.raises(ProtocolError, match="unknown status 'done'"):
        JobStatus.from_json({"id": "j", "status": "done"})
    with pytest.raises(ProtocolError, match="missing field 'version'"):
        Health.from_json({"status": "ok"})


def test_a_result_carries_the_lock_report_and_hits_and_older_results_have_none():
    base = {"takes": 1, "sample_rate": 32000, "num_samples": 10, "duration_s": 0.0003, "seeds": [1]}
    report = {"mode": "both", "locked": True, "reason": "locked", "stretch_range": [0.97, 1.02]}
    result = JobResult.from_json(
        base | {"beat_lock": "both", "lock": [report, "junk"], "hits": [{"t": 1.2, "kind": "cut", "strength": 1.0}]}
    )
    assert result.lock == (report,) and result.hits == ({"t": 1.2, "kind": "cut", "strength": 1.0},)
    assert result.details == {"beat_lock": "both"}  # scalars stay details; the lists are fields
    older = JobResult.from_json(base)
    assert older.lock == () and older.hits == () and older.melody is None


def test_a_result_carries_its_melody_block_and_results_without_one_have_none():
    base = {"takes": 1, "sample_rate": 32000, "num_samples": 10, "duration_s": 0.0003, "seeds": [1]}
    block = {"file": "upload", "start": 0.5, "follows": False, "takes": [{"chroma_similarity": 0.3}]}
    assert JobResult.from_json(base | {"melody": block}).melody == block
    assert JobResult.from_json(base | {"melody": None}).melody is None
    assert JobResult.from_json(base | {"melody": "junk"}).melody is None


def test_error_body_json_and_html():
    body = ErrorBody.parse(401, b'{"detail": "bad token", "hint": "set it", "error_id": "e-1"}')
    assert (body.detail, body.hint, body.error_id) == ("bad token", "set it", "e-1")
    assert ErrorBody.parse(502, b"<html>Bad gateway</html>").detail.startswith("HTTP 502: <html>")


def test_multipart_roundtrip(tmp_path):
    clip = tmp_path / "x.mp4"
    clip.write_bytes(b"\x00\x01binary\r\n--not-a-boundary")
    form = job_form(JobParams(prompt="é", duration=1.0), str(clip))
    raw = f"Content-Type: {form.content_type}\r\n\r\n".encode() + form.body()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
    assert json.loads(parts["params"].get_content())["prompt"] == "é"
    assert parts["video"].get_payload(decode=True) == clip.read_bytes()
    with pytest.raises(ProtocolError, match="exactly one"):
        job_form(JobParams(path="/a.mp4", duration=1.0), str(clip))


def test_multipart_carries_a_melody_upload(tmp_path):
    clip, temp = tmp_path / "x.mp4", tmp_path / "temp.wav"
    clip.write_bytes(b"video")
    temp.write_bytes(b"RIFF-melody")
    form = job_form(JobParams(melody_start=2.0), str(clip), str(temp))
    raw = f"Content-Type: {form.content_type}\r\n\r\n".encode() + form.body()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
    assert parts["melody"].get_payload(decode=True) == temp.read_bytes()
    assert parts["melody"].get_param("filename", header="content-disposition") == "temp.wav"
    assert json.loads(parts["params"].get_content())["melody_start"] == 2.0
    with pytest.raises(ProtocolError, match="at most one"):
        job_form(JobParams(melody_path="temp.wav"), str(clip), str(temp))


def test_sse_parser():
    lines = [
        ": keepalive",
        "event: progress",
        'data: {"a": 1}',
        "",
        "data: x",
        "data: y",
        "",
        "event: done",
        "data: {}",
    ]
    assert list(parse_sse(lines)) == [("progress", '{"a": 1}'), ("message", "x\ny"), ("done", "{}")]


def test_wav_info(tmp_path):
    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(32000), w.writeframes(b"\0\0" * 123)
    assert read_wav_info(str(path)).num_samples == 123
    (tmp_path / "b.wav").write_bytes(b"nope")
    with pytest.raises(ProtocolError, match="not a PCM WAV"):
        read_wav_info(str(tmp_path / "b.wav"))


def test_visual_guidance_is_sent_only_when_on_and_the_service_accepts_it():
    from generator_service.api.schemas import JobParams as ServiceParams

    off = json.dumps(JobParams(adapter="mine").to_json())
    assert "visual_guidance" not in json.loads(off)  # services from before the field accept it
    on = json.dumps(JobParams(adapter="mine", visual_guidance=3.0).to_json())
    assert json.loads(on)["visual_guidance"] == 3.0
    for text in (off, on):
        ServiceParams.model_validate_json(text)  # the service's own schema (extra fields forbidden)
    with pytest.raises(ProtocolError, match="needs an adapter"):
        JobParams(visual_guidance=2.0).to_json()
    with pytest.raises(ProtocolError, match="visual_guidance: 60.0 must be <= 50"):
        JobParams(adapter="mine", visual_guidance=60.0).to_json()
