"""avi.py without bpy: JPEG frames become an MJPEG AVI that FFmpeg (PyAV) decodes frame for frame at
the exact rate, NTSC included."""

from __future__ import annotations

from fractions import Fraction

import pytest

from expotion_blender.avi import AviError, FrameSequence, exact_rate, write_mjpeg_avi


def jpeg_frames(folder, count: int, size=(96, 54)) -> tuple[str, ...]:
    from PIL import Image

    paths = []
    for i in range(count):
        path = folder / f"f{i:04d}.jpg"
        Image.new("RGB", size, ((i * 7) % 255,) * 3).save(path, quality=90)
        paths.append(str(path))
    return tuple(paths)


@pytest.mark.parametrize(
    "fps, base, rate",
    [(30, 1.0010000467, Fraction(30000, 1001)), (25, 1.0, Fraction(25)), (24, 1.001, Fraction(24000, 1001))],
)
def test_exact_rate(fps, base, rate):
    assert exact_rate(fps, base) == rate


def test_decodes_every_frame_at_the_exact_rate(tmp_path):
    import av

    frames = jpeg_frames(tmp_path, 41)
    path = write_mjpeg_avi(str(tmp_path / "proxy.avi"), FrameSequence(frames, 96, 54, Fraction(30000, 1001)))
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "mjpeg" and stream.average_rate == Fraction(30000, 1001)
        assert container.duration / 1e6 == pytest.approx(41 * 1001 / 30000, abs=1e-4)
        levels = [f.to_ndarray(format="gray").mean() for f in container.decode(video=0)]
    assert len(levels) == 41 and [round(v) for v in levels[:4]] == [0, 7, 14, 21]
    assert not (tmp_path / "proxy.avi.part").exists()


def test_refuses_no_frames_and_bad_rates(tmp_path):
    with pytest.raises(AviError, match="at least one frame"):
        write_mjpeg_avi(str(tmp_path / "x.avi"), FrameSequence((), 2, 2, Fraction(25)))
    with pytest.raises(AviError, match="not positive"):
        exact_rate(0, 1.0)
